"""The build-time patches to DuckDB-WASM's worker glue (scripts/duckdb_glue.py).

Every browser test runs DuckDB through the patched glue; these tests pin what the
browser tests cannot reach: the patches match the pinned glue exactly, a changed glue
fails the build by name, and the lazy GOT hands a later side module exactly what the
eager one would have (checked in Node on the real glue's own ``updateGOT`` code,
original against patched).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import duckdb_glue  # noqa: E402

GLUE = ROOT / "node_modules" / "@duckdb" / "duckdb-wasm" / duckdb_glue.SOURCE
needs_glue = pytest.mark.skipif(not GLUE.exists(), reason="node_modules not installed (npm ci)")


@needs_glue
def test_every_patch_matches_the_pinned_glue_once() -> None:
    source = GLUE.read_text()
    patched = duckdb_glue.patch(source)
    for p in duckdb_glue.PATCHES:
        assert source.count(p.old) == 1 and p.new in patched, p.name
    assert "e=Object.assign({},e)" not in patched


def test_a_changed_glue_fails_with_the_patch_name() -> None:
    with pytest.raises(duckdb_glue.GlueMismatch, match="lazy GOT"):
        duckdb_glue.patch("var GOT={};")


def _segment(source: str, start: str, end: str) -> str:
    match = re.search(re.escape(start) + r".*?(?=" + re.escape(end) + ")", source, re.S)
    assert match, start
    return match.group(0)


# Main module exports, then a side module's, then an ``orig$`` override: the GOT values
# a later importer would read, as (kind, what): a function by name, a number as is.
_SCENARIO = r"""
const table = [null];
const addFunction = (f) => {
  let i = table.indexOf(f);
  if (i < 0) { table.push(f); i = table.length - 1; }
  return i;
};
const err = () => {};
const isInternalSym = (s) => s === "__wasm_call_ctors";
const fn = (name) => { const f = () => name; f.label = name; return f; };
%(decls)s;
const updateGOT = %(update)s;
// the main module imported "c" (value 0) and "d" (set) while it was instantiated
GOT["c"] = new WebAssembly.Global({ value: "i32", mutable: true });
GOT["d"] = new WebAssembly.Global({ value: "i32", mutable: true }, 5);
updateGOT({ a: fn("a"), b: 2048, c: fn("c"), d: 9, __wasm_call_ctors: fn("x") });
updateGOT({ a: fn("a-side"), e: 7, f: fn("f") });            // first definition wins
updateGOT({ "orig$b": 4096, g: fn("g") });                    // orig$ replaces, t sticks
updateGOT({ f: fn("f-replaced") }, true);                     // replace=true replaces
const read = (k) => { const g = GOT[k]; if (!g) return null;
  const v = g.value; return typeof table[v] === "function" && v > 0 && !["b", "d", "e"].includes(k)
    ? ["fn", table[v].label] : ["num", v]; };
console.log(JSON.stringify(Object.fromEntries(
  ["a", "b", "c", "d", "e", "f", "g", "__wasm_call_ctors", "missing"].map((k) => [k, read(k)]))));
"""


def _run(decls: str, update: str) -> dict[str, object]:
    script = _SCENARIO % {"decls": decls, "update": update}
    out = subprocess.run([shutil.which("node") or "node", "-e", script], capture_output=True,
                         text=True, check=True, timeout=60)
    result: dict[str, object] = json.loads(out.stdout)
    return result


@needs_glue
@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_lazy_got_gives_later_importers_what_the_eager_got_gave() -> None:
    original = GLUE.read_text()
    patched = duckdb_glue.patch(original)
    def update_got(source: str) -> str:
        return _segment(source, "updateGOT=(e,t)=>", ",relocateExports=")[len("updateGOT="):]

    eager = _run("var GOT={}", update_got(original))
    lazy = _run(_segment(patched, "var GOT_TARGET=", ",currentModuleWeakSymbols"),
                update_got(patched))
    assert lazy == eager
    assert eager["a"] == ["fn", "a"] and eager["b"] == ["num", 4096]
    assert eager["f"] == ["fn", "f-replaced"] and eager["missing"] is None
