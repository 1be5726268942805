"""Prove the testing kit works for an app, from nothing but ``pip install`` (``make kit-check``).

In an empty temporary folder: a fresh venv, ``pip install --no-deps -e <this repo>`` (the
project's own install; its dependencies come from this interpreter's site-packages through a
``.pth`` line, so nothing is downloaded), and one test file that uses only
``ducksync_server``, ``ducksync_device`` and ``assert_converged``: two devices edit, go
offline, edit, reconnect and converge; next to it, every recipe of docs/testing.md as its
own test, so the guide's code is run as written. Then plain ``pytest`` in that folder, with
no conftest, no ``-p`` and no PYTHONPATH: the plugin must come from the installed entry
point. Exit status 0 when the inner run passed; its output is printed either way.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

APP_TEST = '''\
"""An app's test, written only with ducksync's testing kit."""
import ducksync
from ducksync.testing import assert_converged


def test_two_devices_edit_offline_reconnect_and_converge(ducksync_server, ducksync_device):
    print("ducksync from", ducksync.__file__)
    server = ducksync_server()
    a = ducksync_device(server, path="/?sync=manual")
    b = ducksync_device(server, path="/?sync=manual")
    a.exec("CREATE TABLE todos (id INTEGER PRIMARY KEY, text VARCHAR, done BOOLEAN)")
    a.exec("INSERT INTO todos VALUES (1, 'milk', false), (2, 'eggs', false)")
    assert a.sync()["pushed"] == 2
    assert b.sync()["pulled"] == 2
    assert_converged(server, a, b, table="todos")

    with a.offline(), b.offline():
        a.exec("UPDATE todos SET done = true WHERE id = 1")
        b.exec("INSERT INTO todos VALUES (3, 'bread', false)")
        assert not a.status()["online"] and not b.status()["online"]
    # back online (each device's reconnect syncs by itself); one more round settles both
    a.sync(), b.sync(), a.sync()
    rows = assert_converged(server, a, b, table="todos")
    assert [(r["id"], r["done"]) for r in rows] == [("1", "true"), ("2", "false"),
                                                    ("3", "false")]
'''


def recipes_module() -> str:
    """docs/testing.md's recipes as a test module: a block that is a test stays one, a test
    body becomes ``test_recipe_N(ducksync_server, ducksync_device)``."""
    guide = (ROOT / "docs" / "testing.md").read_text()
    section = guide[guide.index("## Recipes"):guide.index("\n## ", guide.index("## Recipes") + 1)]
    lines = ["import duckdb", "from ducksync.testing import assert_converged, wait_until", ""]
    for number, code in enumerate(re.findall(r"```python\n(.*?)```", section, re.S)):
        if "def test_" not in code:
            lines.append(f"def test_recipe_{number}(ducksync_server, ducksync_device):")
            code = "".join(f"    {line}" if line.strip() else line
                           for line in code.splitlines(keepends=True))
        lines += [code, ""]
    return "\n".join(lines)


def run(command: list[str], *, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, text=True, capture_output=True, check=False, cwd=cwd, env=env)


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ducksync-kit-") as tmp:
        folder = Path(tmp)
        venv = folder / ".venv"
        python = venv / "bin" / "python"
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(ROOT)],
        ]
        for step in steps:
            done = run(step)
            if done.returncode:
                print(f"FAILED: {' '.join(step)}\n{done.stdout}{done.stderr}")
                return 1
            if step[1] == "-m" and step[2] == "venv":
                # the dependencies, as already installed for this interpreter (no download)
                site = run([str(python), "-c", "import sysconfig; "
                            "print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
                Path(site, "zz_shared_dependencies.pth").write_text(
                    sysconfig.get_paths()["purelib"] + "\n")
        installed = time.monotonic() - started
        (folder / "test_app.py").write_text(APP_TEST)
        (folder / "test_recipes.py").write_text(recipes_module())
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        result = run([str(python), "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                      "test_app.py", "test_recipes.py"], cwd=folder, env=env)
        print(result.stdout[-6000:], result.stderr[-3000:])
        print(f"kit check: venv + pip install {installed:.1f} s, pytest "
              f"{time.monotonic() - started - installed:.1f} s, exit {result.returncode}")
        expected_source = f"ducksync from {ROOT / 'py' / 'ducksync' / '__init__.py'}"
        if result.returncode == 0 and expected_source not in result.stdout:
            print(f"FAILED: the test did not import this checkout ({expected_source!r})")
            return 1
        return result.returncode


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    sys.exit(main())
