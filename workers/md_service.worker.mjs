// Entry of the nested worker that holds a MotherDuck connection (the `motherduck`
// transport; see workers/sql_service.mjs for why it is a worker of its own). Bundled
// separately (web/dist/md_service.worker.js) and only ever loaded when a page chooses
// the transport: the MotherDuck client is never on the default (proxy) boot path.
// The client loads its DuckDB assets and extension from app.motherduck.com at run time.
import { MDConnection, getAsyncDuckDb } from "@motherduck/wasm-client";
import { asyncDuckDBHost, serveSqlService } from "./sql_service.mjs";

serveSqlService(async ({ token, database }) => {
  const md = MDConnection.create({ mdToken: token });
  await md.isInitialized();
  // The AsyncDuckDB the client runs: our own connection on it sees the md: databases
  // (dual execution), and can take Arrow IPC into temp tables.
  return asyncDuckDBHost(await getAsyncDuckDb({ mdToken: token }), database);
});
