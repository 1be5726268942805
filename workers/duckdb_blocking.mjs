// DuckDB-WASM's synchronous bindings ("blocking" hosting, ?duckdb=blocking), bundled on their
// own (dist/duckdb_blocking.js) and imported by ./duck.mjs only when asked for: at 1.2 MB they
// were half of the local worker's bundle, parsed on every start before DuckDB could be spawned.
export * from "../node_modules/@duckdb/duckdb-wasm/dist/duckdb-browser-blocking.mjs";
