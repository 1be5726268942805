"""Build-time patches to DuckDB-WASM's worker glue: its start-up walks 75,000 exports three times.

DuckDB-WASM is linked as an Emscripten ``MAIN_MODULE`` (so that extensions can load as
side modules). After ``WebAssembly.instantiate`` its glue prepares dynamic linking
eagerly for every one of the module's ≈ 75,000 exports, on the worker's one thread and
on the start-up's critical path (docs/startup.md, "DuckDB's glue"):

* ``updateGOT`` creates a ``WebAssembly.Global`` per export and, for each exported
  function, grows the function table by one slot and fills it — ≈ 0.5 s in Chromium on
  the 2-core machine. Those GOT entries are read only when a *side module* imports the
  symbol (or through ``dlsym``), which ducksync never does (extensions are not loaded:
  ``autoload_known_extensions=false``).
* ``mergeLibSymbols`` and ``registerDynCallSymbols`` iterate ``Object.entries`` (an
  array per export) and create a closure per export; ``applySignatureConversions`` copies
  the 75,000-key exports object once more to wrap 18 functions.

The patches keep every behaviour and make the work lazy or cheaper:

* **lazy GOT**: ``GOT`` becomes a Proxy over the real table. ``updateGOT`` still
  updates entries that already exist (those the main module imported while it was
  instantiated); an export with no entry yet is only *recorded*. The first read of such
  an entry (``GOTHandler`` for a side module's import, ``getMemory``, ``dlsym``)
  creates it with the very value the eager code would have stored, so a later side
  module sees the same symbols. The replacement rules are kept (an ``orig$`` export, or
  a ``replace`` call, overrides; otherwise the first definition wins), and a pending
  entry is never 0, which keeps ``reportUndefinedSymbols`` (it only resolves entries
  whose value is 0) equivalent.
* the four loops over the exports walk one ``Object.keys`` array instead of ``for-in``
  (which re-checks every key of a 75,000-key dictionary object) or ``Object.entries``
  (an array per export, plus a closure per export in ``mergeLibSymbols``). The objects
  are the wasm exports and plain ``{}`` copies of them, with no inherited enumerable
  keys, so the keys and their order are the same.
* ``applySignatureConversions`` wraps the 18 functions on the object it is given instead
  of a copy: the unconverted object is a local of the instantiate callback, referenced
  nowhere after it (its values were copied into ``wasmImports`` already).

One more patch is not about start-up: the worker's message dispatcher is exposed as
``ducksyncDispatcher``, and after each message it handles the worker calls
``ducksyncAfterMessage(request)`` when the shim (``workers/duckdb.worker.js``) defines
it: there a WAL that DuckDB has "deleted" is emptied, because DuckDB-WASM never deletes
it (docs/architecture.md, "The WAL DuckDB-WASM never deletes").

Each patch must match exactly once: a DuckDB-WASM upgrade that changes the glue fails
the build with the patch's name instead of shipping a half-patched file.
"""

from __future__ import annotations

from dataclasses import dataclass

# The patched copy gets its own name (vendor files are cached as immutable by URL).
PATCHED_NAME = "duckdb-browser-eh.ducksync-2.worker.js"
SOURCE = "dist/duckdb-browser-eh.worker.js"


@dataclass(frozen=True)
class Patch:
    name: str
    old: str
    new: str


_HAS = "Object.prototype.hasOwnProperty.call"

PATCHES = (
    Patch(
        "lazy GOT: a Proxy that creates an entry on its first read",
        'var GOT={},',
        'var GOT_TARGET={},GOT_PENDING=new Map,GOT=new Proxy(GOT_TARGET,{get(o,k){'
        f'if(typeof k!="string"||{_HAS}(o,k)||!GOT_PENDING.has(k))return o[k];'
        'var p=GOT_PENDING.get(k);GOT_PENDING.delete(k);'
        'var g=o[k]=new WebAssembly.Global({value:"i32",mutable:!0});'
        'return g.value=typeof p=="function"?addFunction(p):p,g}}),',
    ),
    Patch(
        "lazy GOT: updateGOT records exports that have no entry yet (one key array)",
        'updateGOT=(e,t)=>{for(var r in e)if(!isInternalSym(r)){var n=e[r];'
        'r.startsWith("orig$")&&(r=r.split("$")[1],t=!0),GOT[r]||',
        'updateGOT=(e,t)=>{for(var K=Object.keys(e),i=0;i<K.length;i++){var r=K[i];'
        'if(!isInternalSym(r)){var n=e[r];r.startsWith("orig$")&&(r=r.split("$")[1],t=!0);'
        f'if(!{_HAS}(GOT_TARGET,r)&&(typeof n=="function"||typeof n=="number"))'
        '{(t||!GOT_PENDING.has(r))&&GOT_PENDING.set(r,n);continue}GOT[r]||',
    ),
    Patch(
        "updateGOT: close the loop block the previous patch opened",
        '.concat(typeof n)))}},relocateExports=',
        '.concat(typeof n)))}}},relocateExports=',
    ),
    Patch(
        "relocateExports: one key array instead of for-in",
        'relocateExports=(e,t,r)=>{var n={};for(var a in e){',
        'relocateExports=(e,t,r)=>{var n={};'
        'for(var K=Object.keys(e),i=0;i<K.length;i++){var a=K[i];',
    ),
    Patch(
        "mergeLibSymbols: one key array, no entry arrays or closures",
        'for(var[r,n]of Object.entries(e))(l=>{isSymbolDefined(l)||(wasmImports[l]=n)})(r)}',
        'for(var K=Object.keys(e),i=0;i<K.length;i++){var r=K[i];'
        'isSymbolDefined(r)||(wasmImports[r]=e[r])}}',
    ),
    Patch(
        "registerDynCallSymbols: one key array",
        'registerDynCallSymbols=e=>{for(var[t,r]of Object.entries(e))'
        't.startsWith("dynCall_")&&!Module.hasOwnProperty(t)&&(Module[t]=r)}',
        'registerDynCallSymbols=e=>{for(var K=Object.keys(e),i=0;i<K.length;i++){var t=K[i];'
        't.startsWith("dynCall_")&&!Module.hasOwnProperty(t)&&(Module[t]=e[t])}}',
    ),
    Patch(
        "applySignatureConversions: wrap in place, no 75,000-key copy",
        'function applySignatureConversions(e){e=Object.assign({},e);',
        'function applySignatureConversions(e){',
    ),
    Patch(
        "the dispatcher and an after-message hook for the shim's WAL rules",
        "let o=new xo;globalThis.onmessage=async e=>{await o.onMessage(e.data)}",
        "let o=new xo;globalThis.ducksyncDispatcher=o;globalThis.onmessage=async e=>"
        "{await o.onMessage(e.data);globalThis.ducksyncAfterMessage?.(e.data)}",
    ),
)


class GlueMismatch(RuntimeError):
    """DuckDB-WASM's glue is not the one these patches were written for."""


def patch(source: str) -> str:
    """``source`` with every patch applied; each must match exactly once."""
    for p in PATCHES:
        found = source.count(p.old)
        if found != 1:
            raise GlueMismatch(
                f"DuckDB-WASM glue patch {p.name!r} matched {found} times (expected 1): "
                "the pinned @duckdb/duckdb-wasm version changed; update scripts/duckdb_glue.py")
        source = source.replace(p.old, p.new)
    return source
