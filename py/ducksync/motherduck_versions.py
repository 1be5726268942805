"""MotherDuck's window of accepted DuckDB client versions, declared once.

MotherDuck refuses a native DuckDB client outside this window (its extension is built
per DuckDB version), so an ``md:`` remote opened with another duckdb fails deep inside
the extension load with a message that does not say why. ``check_client_version`` turns
that into one clear error before any connection is tried. The pin in ``pyproject.toml``
(``duckdb>=1.5,<=1.5.6``) lies inside the window; tests/unit/test_motherduck_versions.py
checks the pin and the installed duckdb against this constant, so moving one without
the other fails there.

Source: MotherDuck's version lifecycle page,
https://motherduck.com/docs/troubleshooting/version-lifecycle-schedules/ (machine-readable:
https://motherduck.com/docs/duckdb-versions.json, ``duckdb.motherduck_regions``), checked
2026-12: clients 1.4.0 (us-east-1; 1.4.1 in the other regions) through 1.5.6 (all regions).
Update both bounds, the date and the pin together when MotherDuck moves the window.
"""

from __future__ import annotations

from typing import Final

from ducksync.errors import UnsupportedVersionError

__all__ = ["ACCEPTED_CLIENTS", "CHECKED", "SOURCE", "check_client_version", "in_window",
           "parse_version"]

ACCEPTED_CLIENTS: Final = ((1, 4, 0), (1, 5, 6))  # inclusive (min, max)
SOURCE: Final = "https://motherduck.com/docs/troubleshooting/version-lifecycle-schedules/"
CHECKED: Final = "2026-12"


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.5.6"`` (or ``"v1.5.6"``, ``"1.5.6.dev12"``) as ``(1, 5, 6)``: the numeric release."""
    parts: list[int] = []
    for piece in text.strip().lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits or len(parts) == 3:
            break
        parts.append(int(digits))
    return tuple(parts)


def _text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def in_window(version: str) -> bool:
    """True when a DuckDB client of ``version`` is one MotherDuck accepts."""
    low, high = ACCEPTED_CLIENTS
    return low <= parse_version(version) <= high


def check_client_version(spec: str, installed: str | None = None) -> None:
    """Refuse an ``md:`` ``spec`` when the installed duckdb is outside MotherDuck's window.

    Other specs (files, ``:memory:``) pass whatever the version. ``installed`` defaults
    to the imported duckdb's version (a parameter so tests need not install another).
    """
    if not spec.startswith("md:"):
        return
    if installed is None:
        import duckdb

        installed = duckdb.__version__
    if in_window(installed):
        return
    low, high = (_text(v) for v in ACCEPTED_CLIENTS)
    raise UnsupportedVersionError(
        f"cannot open {spec}: the installed duckdb is {installed}, and MotherDuck accepts "
        f"DuckDB clients {low} through {high} (its version lifecycle page, checked {CHECKED})",
        hint=f'install a duckdb inside the window: pip install "duckdb>={low},<={high}" '
             f"(see {SOURCE})")
