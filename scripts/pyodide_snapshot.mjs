// Make a Pyodide memory snapshot for the workers (run by scripts/build_assets.py).
//
//   node scripts/pyodide_snapshot.mjs INDEX_DIR OUT_FILE MODULE[,MODULE...]
//
// Boots Pyodide once in Node with `_makeSnapshot: true`, imports the stdlib modules the
// workers use, and writes the interpreter's memory. A worker that passes the bytes to
// `loadPyodide({_loadSnapshot})` skips interpreter start-up (docs/benchmarks.md: the top
// start-up cost). Only stdlib/pyodide modules go in: our own package changes every
// build and is unpacked after the restore. Nothing that holds a JS object may be imported
// here (no `js`, no `pyodide.http`): the snapshot would refer to Node's objects.
import { writeFileSync, renameSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [indexDir, out, modules = ""] = process.argv.slice(2);
if (!indexDir || !out) {
  console.error("usage: node scripts/pyodide_snapshot.mjs INDEX_DIR OUT_FILE MODULES");
  process.exit(2);
}
const indexURL = path.resolve(indexDir) + path.sep;
const { loadPyodide } = await import(pathToFileURL(path.join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL, _makeSnapshot: true, packages: [] });
const names = modules.split(",").map((m) => m.trim()).filter(Boolean);
pyodide.runPython(`
import importlib
for name in ${JSON.stringify(names)}:
    importlib.import_module(name)
del importlib, name
`);
const bytes = pyodide.makeMemorySnapshot();
writeFileSync(out + ".tmp", bytes);
renameSync(out + ".tmp", out);
console.log(`pyodide snapshot: ${names.length} modules, ${(bytes.length / 1e6).toFixed(1)} MB -> ${out}`);
