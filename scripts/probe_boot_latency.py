"""A new device's bootstrap natively (HTTP store, a real ``ducksync serve``) through the
bench's delay proxy: wall ms and sync requests per pull, for a protocol change measured
with a network's distance as well as on loopback (docs/benchmarks.md, session 14, page).

    PYTHONPATH=$PWD/py .venv/bin/python scripts/probe_boot_latency.py --rows 1000000 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--delay", type=float, default=0.05, help="seconds per request")
    ap.add_argument("--runs", type=int, default=4, help="new devices, one server")
    args = ap.parse_args()
    import duckdb

    from ducksync.bench import data
    from ducksync.bench.delay_proxy import DelayProxy
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores.http import HttpRemoteStore
    from ducksync.stores.native import NativeLocalStore

    with tempfile.TemporaryDirectory() as tmp:
        remote = Path(tmp) / "remote.duckdb"
        with duckdb.connect(str(remote)) as con:
            con.execute(data.create_sql())
            con.execute(data.fill_sql(args.rows))
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "ducksync", "serve", "--port", str(port), "--remote",
             str(remote)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proxy = DelayProxy(target_port=port, delay_s=args.delay)
        try:
            deadline = time.monotonic() + 60
            while True:  # ready when /readyz answers
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.1)
            proxy.start()
            runs = []
            for i in range(args.runs):
                local = NativeLocalStore(spec=str(Path(tmp) / f"device-{i}.duckdb"))

                async def pull(local: NativeLocalStore = local) -> object:
                    store = HttpRemoteStore(url=proxy.url)
                    try:
                        return await sync(local, store, SyncOptions(tables=[data.TABLE]),
                                          "pull")
                    finally:
                        await store.aclose()

                proxy.reset()
                started = time.perf_counter()
                report = asyncio.run(pull())
                ms = (time.perf_counter() - started) * 1000
                local.close()
                pulled = report.tables[0].pulled  # type: ignore[attr-defined]
                if pulled != args.rows:
                    raise SystemExit(f"pulled {pulled} of {args.rows} rows")
                runs.append(f"{ms:,.0f} ms / {proxy.requests} requests")
            print(f"delay {args.delay * 1000:g} ms, {args.rows:,} rows: " + "; ".join(runs))
        finally:
            proxy.stop()
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
