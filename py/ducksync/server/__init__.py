"""The ducksync server: serves the app cross-origin isolated and fronts the remote.

May import: ducksync (protocol, errors, engine, stores), fastapi/starlette, uvicorn,
duckdb via ducksync.stores. Never imported by the engine or by workers.
"""
