"""ducksync: an offline-first DuckDB client kept in sync with MotherDuck.

The package is importable without any third-party dependency so it runs in Pyodide
from plain files: :mod:`ducksync.protocol`, :mod:`ducksync.errors` and the sync engine
are pure Python. Native stores, the server and the CLI import duckdb/pyarrow lazily.
"""

__version__ = "0.1.0"
