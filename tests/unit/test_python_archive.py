"""Our Python archive for the workers: Pyodide-compiled bytecode, imported from the zip.

scripts/pyodide_pyc.mjs compiles every module with the workers' own interpreter
(Pyodide, in Node); the workers then import straight from the zip. These tests run
the real script and the real Pyodide: the bytecode is what gets imported (not the
source), and a traceback still shows source lines.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "web" / "dist" / "vendor"
PYODIDE = next(VENDOR.glob("pyodide-*"), None) if VENDOR.exists() else None
MOUNT = "/home/pyodide/t.zip"

pytestmark = pytest.mark.skipif(PYODIDE is None or shutil.which("node") is None,
                                reason="needs node and the built assets (make build)")


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def _compile(tmp_path: Path, files: dict[str, str]) -> Path:
    src, out = tmp_path / "in.zip", tmp_path / "out.zip"
    src.write_bytes(_zip(files))
    subprocess.run(["node", str(ROOT / "scripts" / "pyodide_pyc.mjs"), str(PYODIDE), str(src),
                    str(out), MOUNT], check=True, capture_output=True, timeout=120)
    return out


def _run_in_pyodide(archive: Path, python: str) -> str:
    script = textwrap.dedent(f"""
        import {{ readFileSync }} from "node:fs";
        const {{ loadPyodide }} = await import({str(PYODIDE / "pyodide.mjs")!r});
        const pyodide = await loadPyodide({{ indexURL: {str(PYODIDE) + "/"!r}, packages: [] }});
        const b = readFileSync({str(archive)!r});
        pyodide.FS.writeFile({MOUNT!r}, new Uint8Array(b.buffer, b.byteOffset, b.length));
        pyodide.runPython("import sys; sys.path.insert(0, {MOUNT!r})");
        console.log(pyodide.runPython({python!r}));
    """)
    done = subprocess.run(["node", "--input-type=module", "-e", script], check=True,
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip().splitlines()[-1]


SOURCE = "def boom():\n    raise ValueError('from the bytecode')\n"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Pyodide compile for the module: it boots Pyodide in Node (seconds)."""
    return _compile(tmp_path_factory.mktemp("pyc"),
                    {"pkg/__init__.py": "", "pkg/mod.py": SOURCE, "pkg/py.typed": ""})


def test_every_module_gets_unchecked_bytecode_beside_its_source(compiled: Path) -> None:
    with zipfile.ZipFile(compiled) as archive:
        names = set(archive.namelist())
        assert names == {"pkg/__init__.py", "pkg/__init__.pyc", "pkg/mod.py", "pkg/mod.pyc",
                         "pkg/py.typed"}
        header = archive.read("pkg/mod.pyc")[:8]
    assert int.from_bytes(header[4:8], "little") == 0b01  # PEP 552: hash-based, unchecked


def test_workers_import_the_bytecode_and_tracebacks_show_source(compiled: Path,
                                                                 tmp_path: Path) -> None:
    # Swap the source after compiling: only an import of the .pyc still raises.
    swapped = tmp_path / "swapped.zip"
    with zipfile.ZipFile(compiled) as old, zipfile.ZipFile(swapped, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "pkg/mod.py":
                data = SOURCE.replace("raise ValueError('from the bytecode')",
                                      "return 'from the source'").encode()
            new.writestr(info, data)
    result = _run_in_pyodide(swapped, textwrap.dedent("""
        import traceback, pkg.mod
        try:
            pkg.mod.boom()
            out = "imported the source"
        except ValueError:
            out = traceback.format_exc().replace(chr(10), " | ")
        out
    """))
    assert "ValueError: from the bytecode" in result, result
    assert f'File "{MOUNT}/pkg/mod.py", line 2, in boom' in result, result
    # ...and its source line comes from the zip's .py (here, the swapped one).
    assert "return 'from the source'" in result, result
