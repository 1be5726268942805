"""The service worker's precache manifest: what it lists, and that hashes track content."""

from __future__ import annotations

import json
from pathlib import Path

from ducksync.precache import build_manifest, manifest_json, manifest_script


def make_site(root: Path) -> Path:
    for name, text in {
        "index.html": "<html>", "app.css": "body{}", "ui.py": "print()", "README.md": "docs",
        "dist/ducksync.js": "js", "dist/ducksync.js.map": "{}", "dist/precache.json": "{}",
        "dist/precache.js": "self.X={}", "dist/ducksync-py.zip": "zip",
        "dist/vendor/pyodide-1.0/pyodide.asm.wasm": "wasm",
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "dist"


def test_lists_the_shell_and_every_built_file_but_not_maps_or_itself(tmp_path: Path) -> None:
    dist = make_site(tmp_path)
    files = build_manifest(tmp_path, dist)["files"]
    assert sorted(files) == ["app.css", "dist/ducksync-py.zip", "dist/ducksync.js",
                             "dist/vendor/pyodide-1.0/pyodide.asm.wasm", "index.html", "ui.py"]
    assert all(len(h) == 16 for h in files.values())


def test_a_change_moves_exactly_that_files_hash_and_the_version(tmp_path: Path) -> None:
    dist = make_site(tmp_path)
    before = build_manifest(tmp_path, dist)
    assert build_manifest(tmp_path, dist) == before  # deterministic
    (dist / "ducksync.js").write_text("js v2")
    after = build_manifest(tmp_path, dist)
    changed = {p for p in before["files"] if before["files"][p] != after["files"][p]}
    assert changed == {"dist/ducksync.js"}
    assert after["version"] != before["version"]
    (dist / "ducksync.js").write_text("js")
    assert build_manifest(tmp_path, dist) == before


def test_json_and_script_carry_the_same_manifest(tmp_path: Path) -> None:
    manifest = build_manifest(tmp_path, make_site(tmp_path))
    assert json.loads(manifest_json(manifest)) == manifest
    script = manifest_script(manifest)
    prefix = "self.DUCKSYNC_PRECACHE = "
    body = script.split(prefix, 1)[1].rstrip().removesuffix(";")
    assert json.loads(body) == manifest


def test_every_ui_module_the_page_loads_is_precached() -> None:
    """A UI module missing from the shell would break the offline start (ui_signin.py was)."""
    import re

    from ducksync.precache import SHELL

    index = (Path(__file__).resolve().parents[2] / "web" / "index.html").read_text()
    loaded = set(re.findall(r'"\./(ui[a-z_]*\.py)"', index)) | {"ui.py"}
    assert loaded and loaded <= set(SHELL), sorted(loaded - set(SHELL))
