// Add Pyodide-compiled bytecode to our Python archive (run by scripts/build_assets.py).
//
//   node scripts/pyodide_pyc.mjs INDEX_DIR IN_ZIP OUT_ZIP MOUNT_PATH
//
// The workers import our package straight from its zip (zipimport), so a worker's start
// neither unpacks files nor compiles source: compiling ≈ 70 modules cost the local worker's
// thread ≈ 200-300 ms on the start-up's critical path (docs/startup.md). The bytecode must
// come from the workers' own interpreter (Pyodide's CPython, whose version differs from the
// build machine's), so Pyodide compiles it here, in Node. Each module keeps its .py beside
// an *unchecked* hash-based .pyc (PEP 552): zipimport loads the .pyc without comparing
// timestamps, and tracebacks still show source lines (linecache asks the zip loader).
// MOUNT_PATH is where the workers put the zip, so code objects carry the file names a
// zipimport of the source would give them.
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [indexDir, input, out, mount] = process.argv.slice(2);
if (!indexDir || !input || !out || !mount) {
  console.error("usage: node scripts/pyodide_pyc.mjs INDEX_DIR IN_ZIP OUT_ZIP MOUNT_PATH");
  process.exit(2);
}
const indexURL = path.resolve(indexDir) + path.sep;
const { loadPyodide } = await import(pathToFileURL(path.join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL, packages: [] });
const source = readFileSync(input);
pyodide.FS.writeFile("/tmp/in.zip", new Uint8Array(source.buffer, source.byteOffset, source.length));
pyodide.globals.set("MOUNT", mount);
const count = pyodide.runPython(`
import importlib._bootstrap_external as bx
import importlib.util
import zipfile

compiled = 0
with zipfile.ZipFile("/tmp/in.zip") as src, \\
        zipfile.ZipFile("/tmp/out.zip", "w", zipfile.ZIP_DEFLATED) as dst:
    dst.comment = src.comment
    for info in src.infolist():
        data = src.read(info)
        dst.writestr(info, data)
        if info.filename.endswith(".py"):
            code = compile(data, f"{MOUNT}/{info.filename}", "exec", dont_inherit=True)
            pyc = bx._code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
            entry = zipfile.ZipInfo(info.filename[:-3] + ".pyc", date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, pyc)
            compiled += 1
compiled
`);
writeFileSync(out + ".tmp", pyodide.FS.readFile("/tmp/out.zip"));
renameSync(out + ".tmp", out);
console.log(`pyodide bytecode: ${count} modules -> ${out}`);
