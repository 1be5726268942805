"""The sync engine: pure Python, no I/O of its own, runs unchanged in CPython and Pyodide.

It imports only the standard library and :mod:`ducksync.errors`. Rows never become
Python objects on a hot path: all hashing, diffing and merging happens as SQL in the
local DuckDB, and bulk data moves between stores as opaque Arrow IPC bytes.
"""
