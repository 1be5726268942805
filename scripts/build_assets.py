"""Build ``web/dist/``: self-hosted vendor files, esbuild bundles, protocol.js, our Python package.

Everything the browser loads comes from our own server (no CDN), so this script
copies the few vendor files the app needs under versioned folders
(``web/dist/vendor/<pkg>-<version>/``, served with immutable caching), bundles
the JS glue with esbuild (module workers have no import maps), emits the protocol
constants from ``ducksync.protocol`` and zips the ``ducksync`` package plus
``workers/*.py`` for ``pyodide.unpackArchive``. Last, it lists every file the app
needs to boot, with content hashes, for the service worker (``dist/precache.json``,
see ``ducksync.precache``).

Idempotent and fast: files are rewritten only when their content changes, so
unchanged files keep their mtime (and the server's ETag stays valid).

    .venv/bin/python scripts/build_assets.py
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
DIST = ROOT / "web" / "dist"
VENDOR = DIST / "vendor"
PY_ROOT = ROOT / "py"

sys.path.insert(0, str(PY_ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import duckdb_glue  # noqa: E402

from ducksync.precache import (  # noqa: E402
    build_manifest,
    manifest_json,
    manifest_script,
    precache_paths,
)
from ducksync.protocol import js_module  # noqa: E402

# package folder in node_modules -> (vendor folder name, files to copy; "*" = whole dir)
VENDOR_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pyodide": ("pyodide", ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm",
                            "python_stdlib.zip", "pyodide-lock.json")),
    # DuckDB's worker glue is not copied but patched (duckdb_glue.py, see patch_duckdb_glue).
    "@duckdb/duckdb-wasm": ("duckdb-wasm", ("dist/duckdb-eh.wasm",)),
    "@pyscript/core": ("pyscript-core", ("dist/*",)),
    "@micropython/micropython-webassembly-pyscript": ("micropython",
                                                      ("micropython.mjs", "micropython.wasm")),
}
# Left out of the Pyodide archive: the native stack (fastapi, duckdb), build tooling and
# the pytest kit (ducksync.testing drives browsers; it never runs in one).
PY_EXCLUDE = {"server", "cli", "testing", "__pycache__", "precache.py"}
BUNDLES = ("workers/local.worker.mjs", "workers/remote.worker.mjs", "web/ducksync.js",
           "workers/duckdb_blocking.mjs", "web/console.js")
# Loaded only when a page picks the motherduck transport (docs/transports.md): bundles of
# their own, left out of the precache so the default (proxy) app never downloads them.
# The loopback service is the browser tests' stand-in, honoured only on loopback origins.
ON_DEMAND = ("workers/md_service.worker.mjs", "tests/e2e/loopback_sql.worker.mjs")


def package_version(package: str) -> str:
    data = json.loads((NODE_MODULES / package / "package.json").read_text())
    return str(data["version"])


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def copy_if_changed(src: Path, dst: Path) -> bool:
    if dst.exists():
        s, d = src.stat(), dst.stat()
        if s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime):
            return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return True


def copy_vendor() -> dict[str, str]:
    """Copy vendor files; return {package folder name: URL path relative to dist/}.

    Files this script generates into a vendor folder carry "ducksync" in their name
    (the Pyodide snapshot, the patched DuckDB glue); any other file there that is not
    copied from the package is stale and removed (the service worker precaches dist/).
    """
    paths: dict[str, str] = {}
    for package, (name, files) in VENDOR_FILES.items():
        folder = f"{name}-{package_version(package)}"
        paths[name] = f"vendor/{folder}/"
        src_root = NODE_MODULES / package
        copied: set[Path] = set()
        for pattern in files:
            if pattern.endswith("/*"):
                base = src_root / pattern[:-2]
                sources = [p for p in base.rglob("*") if p.is_file() and p.suffix != ".map"]
            else:
                base = (src_root / pattern).parent
                sources = [src_root / pattern]
            for src in sources:
                copy_if_changed(src, VENDOR / folder / src.relative_to(base))
                copied.add(VENDOR / folder / src.relative_to(base))
        for stale_file in (VENDOR / folder).rglob("*"):
            if stale_file.is_file() and stale_file not in copied \
                    and "ducksync" not in stale_file.name:
                stale_file.unlink()
    # Drop vendor folders of versions we no longer pin.
    wanted = {p.split("/")[1] for p in paths.values()}
    for stale in VENDOR.iterdir():
        if stale.name not in wanted:
            shutil.rmtree(stale)
    return paths


# Stdlib modules imported before the Pyodide memory snapshot is taken (see
# scripts/pyodide_snapshot.mjs); changing this list changes the snapshot's file name.
SNAPSHOT_MODULES = ("asyncio", "json", "dataclasses", "datetime", "enum", "typing", "uuid",
                    "contextlib", "itertools", "functools", "re", "traceback", "inspect",
                    "gzip", "base64", "logging", "random", "math", "struct", "string")


def patch_duckdb_glue(assets: dict[str, str]) -> None:
    """DuckDB-WASM's worker script with its start-up patches (scripts/duckdb_glue.py)."""
    source = (NODE_MODULES / "@duckdb/duckdb-wasm" / duckdb_glue.SOURCE).read_text()
    assets["duckdb-worker"] = assets["duckdb-wasm"] + duckdb_glue.PATCHED_NAME
    target = DIST / assets["duckdb-worker"]
    write_if_changed(target, duckdb_glue.patch(source).encode())
    # an earlier build's patched glue (its name carries the patch generation) is stale
    for stale in target.parent.glob("duckdb-browser-eh.ducksync-*.worker.js"):
        if stale != target:
            stale.unlink()


def pyodide_snapshot(assets: dict[str, str]) -> None:
    """A memory snapshot of an initialised Pyodide: workers restore it instead of booting.

    Built with node once per Pyodide version and module list (≈ 10-30 s), then reused;
    named by a hash of both, so it caches as immutably as the vendor files. Skipped (the
    workers boot normally) when node is missing or the build fails.
    """
    folder = DIST / assets["pyodide"]
    key = hashlib.sha256(json.dumps([package_version("pyodide"), SNAPSHOT_MODULES,
                                     (ROOT / "scripts" / "pyodide_snapshot.mjs").read_bytes()
                                     .hex()]).encode()).hexdigest()[:16]
    name = f"ducksync-snapshot-{key}.bin"
    for stale in folder.glob("ducksync-snapshot-*.bin"):
        if stale.name != name:
            stale.unlink()
    if not (folder / name).exists():
        node = shutil.which("node")
        if node is None:
            print("pyodide snapshot skipped: node not found", file=sys.stderr)
            return
        done = subprocess.run([node, str(ROOT / "scripts" / "pyodide_snapshot.mjs"), str(folder),
                               str(folder / name), ",".join(SNAPSHOT_MODULES)], cwd=ROOT,
                              check=False)
        if done.returncode != 0:
            print("pyodide snapshot failed: workers will boot without it", file=sys.stderr)
            return
    assets["pyodide-snapshot"] = assets["pyodide"] + name


# Where workers/boot.mjs writes the archive in Pyodide's file system (it imports from
# there with zipimport); bytecode in the archive names its files under this path.
PY_MOUNT = "/home/pyodide/ducksync-py.zip"


def python_archive() -> bytes:
    """``ducksync/`` (browser-safe parts) and ``workers/*.py`` as a deterministic zip."""
    members: list[tuple[str, Path]] = []
    package = PY_ROOT / "ducksync"
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(PY_ROOT)
        if path.is_file() and not PY_EXCLUDE.intersection(rel.parts[1:]) \
                and path.suffix in {".py", ".typed"}:
            members.append((rel.as_posix(), path))
    for path in sorted((ROOT / "workers").glob("*.py")):
        members.append((path.name, path))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def python_archive_with_bytecode(assets: dict[str, str]) -> bytes:
    """The archive plus Pyodide-compiled ``.pyc`` files (scripts/pyodide_pyc.mjs).

    Compiling boots Pyodide in Node (a few seconds), so the result is reused while the
    sources, the Pyodide version and the script are unchanged: their hash is the zip's
    comment. Without node, or if compiling fails, the workers get the sources alone
    (they still import from the zip, compiling as they go).
    """
    source = python_archive()
    script = ROOT / "scripts" / "pyodide_pyc.mjs"
    key = hashlib.sha256(b"\0".join([package_version("pyodide").encode(), source,
                                      script.read_bytes(), PY_MOUNT.encode()])).hexdigest()[:16]
    built = DIST / assets["python"]
    if built.exists():
        with zipfile.ZipFile(built) as previous:
            if previous.comment == f"{key}:pyc".encode():
                return built.read_bytes()
    node = shutil.which("node")
    if node is not None:
        with tempfile.TemporaryDirectory() as tmp:
            staged, compiled = Path(tmp) / "source.zip", Path(tmp) / "compiled.zip"
            staged.write_bytes(source)
            with zipfile.ZipFile(staged, "a") as archive:
                archive.comment = f"{key}:pyc".encode()
            done = subprocess.run([node, str(script), str(DIST / assets["pyodide"]),
                                   str(staged), str(compiled), PY_MOUNT], cwd=ROOT, check=False)
            if done.returncode == 0:
                return compiled.read_bytes()
    print("python bytecode skipped: workers will compile our package as they import it",
          file=sys.stderr)
    return source


def bundle(assets: dict[str, str]) -> None:
    """esbuild: worker entries (with duckdb-wasm + apache-arrow) and the embedding API.

    Minified (names kept, source maps beside): the local worker's bundle is parsed and
    evaluated before it can spawn DuckDB, on the start-up's critical path (docs/startup.md).
    """
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    subprocess.run(
        [str(esbuild), *BUNDLES, *ON_DEMAND, "--bundle", "--format=esm", "--platform=browser",
         "--target=es2022", f"--outdir={DIST}", "--entry-names=[name]", "--sourcemap",
         "--minify", "--keep-names",
         "--log-level=warning",
         f"--alias:@ducksync/protocol={DIST / 'protocol.js'}",
         f"--define:DUCKSYNC_ASSETS={json.dumps(assets)}"],
        cwd=ROOT, check=True)


def main() -> int:
    started = time.perf_counter()
    DIST.mkdir(parents=True, exist_ok=True)
    VENDOR.mkdir(exist_ok=True)
    assets = copy_vendor()
    patch_duckdb_glue(assets)
    assets["python"] = "ducksync-py.zip"
    assets["python-mount"] = PY_MOUNT
    pyodide_snapshot(assets)
    write_if_changed(DIST / "protocol.js", js_module().encode())
    # Classic worker script (DuckDB's worker behind a shim): not bundled, only preceded by
    # the WASM memory tracker (a plain script the Pyodide workers' bundles import).
    shim = ROOT / "workers" / "duckdb.worker.js"
    tracker = (ROOT / "workers" / "wasm_memories.js").read_bytes()
    write_if_changed(DIST / shim.name, tracker + b"\n" + shim.read_bytes())
    write_if_changed(DIST / assets["python"], python_archive_with_bytecode(assets))
    bundle(assets)
    on_demand = {Path(p).name.replace(".mjs", ".js") for p in ON_DEMAND}
    boot = [p for p in precache_paths(ROOT / "web", DIST) if p.name not in on_demand]
    manifest = build_manifest(ROOT / "web", DIST, boot)  # last: hashes everything built
    write_if_changed(DIST / "precache.json", manifest_json(manifest).encode())
    write_if_changed(DIST / "precache.js", manifest_script(manifest).encode())
    print(f"built web/dist in {time.perf_counter() - started:.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
