"""Sync rules: each principal syncs only their rows, and cannot write, count or hash others'.

The real app (``create_app``) in process, reached through ``httpx.ASGITransport`` by
the engine's HTTP store and by raw requests: the same routes, auth, pool and store a
deployment runs, without a port. One remote file shared by three users (and a user
whose name is an injection attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pytest
from fastapi import FastAPI

from ducksync.engine import rejections
from ducksync.engine.sync import SyncOptions, sync
from ducksync.server.app import create_app
from ducksync.server.auth import Principal, hash_api_key, hash_password
from ducksync.server.rules import Rules, RulesError
from ducksync.server.settings import Settings
from ducksync.stores import open_local
from ducksync.stores.http import HttpRemoteStore
from ducksync.stores.native import NativeRemoteStore

PASSWORD = "pw-for-rules"
SNEAKY = "x' OR 'a'='a"  # a username that is an injection attempt
SERVICE_KEY = "dsk_rules_service_key_0123456789abcdef"  # the operator's machine key
USERS = ("alice", "bob", "carol", SNEAKY)
RULES = """
[tables.todos]
filter = "owner = $user"
access = "read-write"

[tables.products]
filter = "true"
access = "read"

[tables.notes]
filter = "author = $user"  # no such table yet: checked when a client creates it
"""


@dataclass
class Served:
    app: FastAPI
    tmp: Path

    def remote(self, sql: str) -> list[tuple[Any, ...]]:
        with self.app.state.remote.cursor() as cur:
            return list(cur.execute(sql).fetchall())

    def sync(self, user: str, local: Path, mode: str = "sync",
             **opts: Any) -> dict[str, Any]:
        async def main() -> dict[str, Any]:
            store = HttpRemoteStore(url="http://rules.test", username=user, password=PASSWORD,
                                    transport=httpx.ASGITransport(app=self.app))
            try:
                report = await sync(open_local(str(local)), store,
                                    SyncOptions(tables=opts.pop("tables", None), **opts),
                                    mode)  # type: ignore[arg-type]
                return dict(report.to_dict())
            finally:
                await store.aclose()
        return asyncio.run(main())

    @contextlib.contextmanager
    def client(self, user: str) -> Iterator[httpx.Client]:
        """Raw requests as ``user`` (bearer session token)."""
        with httpx.Client(transport=_SyncASGI(self.app), base_url="http://rules.test") as client:
            token = client.post("/api/v1/auth/login",
                                json={"username": user, "password": PASSWORD}).json()["token"]
            client.headers["authorization"] = f"Bearer {token}"
            client.cookies.clear()
            yield client


class _SyncASGI(httpx.BaseTransport):
    """A synchronous transport over the ASGI app (one event loop per request)."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def main() -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            body = await response.aread()  # decoded: the encoding headers no longer apply
            headers = [(k, v) for k, v in response.headers.items()
                       if k not in ("content-encoding", "content-length")]
            return httpx.Response(response.status_code, headers=headers, content=body)
        return asyncio.run(main())


def _seed(remote: Path) -> None:
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE todos (id INTEGER PRIMARY KEY, owner VARCHAR, title VARCHAR)")
        con.execute("INSERT INTO todos SELECT i, ['alice', 'bob', 'carol'][i % 3 + 1], "
                    "'todo ' || i FROM range(30) t(i)")
        con.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR)")
        con.execute("INSERT INTO products VALUES (1, 'duck'), (2, 'pond')")
        con.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, v VARCHAR)")
        con.execute("INSERT INTO secrets VALUES (1, 'no section, never synced')")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    remote = tmp_path / "remote.duckdb"
    _seed(remote)
    (tmp_path / "rules.toml").write_text(RULES)
    stored = hash_password(PASSWORD)
    settings = Settings(remote=str(remote), rules_file=tmp_path / "rules.toml", web_root=tmp_path,
                        users=tuple(f"{u}:{stored}" for u in USERS), readonly_console=True,
                        api_key_hashes=(hash_api_key(SERVICE_KEY),),
                        rate_limit_per_s=1e6, rate_limit_burst=1_000_000)
    app = create_app(settings)
    yield Served(app, tmp_path)
    app.state.ctx.pool.close()
    app.state.remote.close()


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path)) as con:
        return list(con.execute(sql).fetchall())


def test_three_users_each_sync_only_their_rows(served: Served) -> None:
    """(The username that is an injection attempt: test_a_principal_cannot_learn…)"""
    for user in ("alice", "bob", "carol"):
        local = served.tmp / f"{user}.duckdb"
        report = served.sync(user, local)
        assert report["converged"], report
        owners = _rows(local, "SELECT DISTINCT owner FROM todos")
        assert owners == [(user,)], user
        assert _rows(local, "SELECT count(*) FROM todos") == [(10,)]
        assert _rows(local, "SELECT count(*) FROM products") == [(2,)]  # shared, read-only
        tables = {r[0] for r in _rows(local, "SELECT table_name FROM duckdb_tables() "
                                             "WHERE schema_name = 'main'")}
        assert "secrets" not in tables  # no section: not synced at all


def test_writes_outside_ones_rows_are_rejected_kept_and_held(served: Served) -> None:
    local = served.tmp / "alice.duckdb"
    served.sync("alice", local)
    before = served.remote("SELECT * FROM todos WHERE owner <> 'alice' ORDER BY id")
    with duckdb.connect(str(local)) as con:
        con.execute("INSERT INTO todos VALUES (100, 'bob', 'planted for bob')")   # outside
        con.execute("INSERT INTO todos VALUES (1, 'alice', 'bob holds id 1')")    # not yours
        con.execute("UPDATE todos SET owner = 'bob' WHERE id = 0")                # leaves
        con.execute("UPDATE todos SET title = 'mine, edited' WHERE id = 3")       # fine
        con.execute("INSERT INTO todos VALUES (101, 'alice', 'new and mine')")    # fine
        con.execute("UPDATE products SET name = 'goose' WHERE id = 1")            # read-only
    report = served.sync("alice", local)
    todos, products = (t for t in sorted(report["tables"], key=lambda t: t["table"],
                                         reverse=True))
    assert (todos["pushed"], todos["rejections"], todos["converged"]) == (2, 3, False)
    assert (products["pushed"], products["rejections"]) == (0, 1)
    assert not report["converged"]
    found = {(r["table"], r["key"]): r["reason"]
             for r in asyncio.run(rejections.list_rejections(open_local(str(local))))}
    assert found == {("todos", "100"): rejections.OUTSIDE, ("todos", "1"): rejections.NOT_YOURS,
                     ("todos", "0"): rejections.OUTSIDE, ("products", "1"): rejections.READ_ONLY}
    # the remote: others' rows unchanged, the accepted rows applied, nothing refused landed
    assert served.remote("SELECT * FROM todos WHERE owner <> 'alice' ORDER BY id") == before
    assert served.remote("SELECT id, owner, title FROM todos WHERE id IN (0, 3, 100, 101) "
                         "ORDER BY id") == [(0, "alice", "todo 0"), (3, "alice", "mine, edited"),
                                            (101, "alice", "new and mine")]
    assert served.remote("SELECT name FROM products WHERE id = 1") == [("duck",)]
    # kept here, and held: the next sync sends nothing (it would be refused again)
    assert _rows(local, "SELECT owner FROM todos WHERE id IN (0, 100)") == [("bob",), ("bob",)]
    again = served.sync("alice", local)
    assert [t["pushed"] for t in again["tables"]] == [0, 0]
    assert [t["bytes_sent"] for t in again["tables"]] == [0, 0]
    assert [t["rejections"] for t in again["tables"]] == [1, 3]
    # fixing a row sends it again; setting it back ends its rejection; discarding
    # brings back what the remote holds
    with duckdb.connect(str(local)) as con:
        con.execute("UPDATE todos SET owner = 'alice' WHERE id = 100")
        con.execute("UPDATE todos SET owner = 'alice' WHERE id = 0")
    local_store = open_local(str(local))
    asyncio.run(rejections.discard(local_store, "todos", "1"))
    asyncio.run(rejections.discard(local_store, "products", "1"))
    fixed = served.sync("alice", local)
    assert fixed["converged"], fixed
    assert _rows(local, "SELECT id, owner FROM todos WHERE id IN (0, 1, 100) ORDER BY id") == [
        (0, "alice"), (100, "alice")]  # 0 back as the remote has it; bob's 1 stays unseen
    assert _rows(local, "SELECT name FROM products WHERE id = 1") == [("duck",)]


def test_a_raw_batch_cannot_delete_or_overwrite_anothers_row(served: Served) -> None:
    """A client that skips the engine: deletes and upserts naming bob's keys, with the
    right expected hashes (computable by anyone who knows the row), are refused."""
    bob_hash = _remote_row_hash(served, 1)
    batch = pa.table({"id": pa.array([1, 4], pa.int32()), "owner": ["bob", "bob"],
                      "title": [None, "hijacked"], "__ds_op": ["D", "U"],
                      "__ds_expect": pa.array([bob_hash, _remote_row_hash(served, 4)],
                                              pa.uint64()),
                      "__ds_lh": pa.array([None, 7], pa.uint64())})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_table(batch)
    with served.client("alice") as client:
        response = client.post("/api/v1/sync/tables/todos/batches/raw-1", params={"key": ["id"]},
                              content=sink.getvalue().to_pybytes(),
                              headers={"content-type": "application/vnd.apache.arrow.stream"})
    assert response.status_code == 200, response.text
    answer = pa.ipc.open_stream(response.content).read_all().to_pylist()
    assert {(r["id"], r["__ds_status"], r["__ds_rh"]) for r in answer} == {
        (1, rejections.NOT_YOURS, None), (4, rejections.NOT_YOURS, None)}
    assert served.remote("SELECT id, owner, title FROM todos WHERE id IN (1, 4) ORDER BY id") == [
        (1, "bob", "todo 1"), (4, "bob", "todo 4")]


def _remote_row_hash(served: Served, key: int) -> int:
    """The remote's row hash of ``todos`` row ``key``, as the store computes it."""
    from ducksync.engine import sqlbuild as sb

    types = dict(served.remote("SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_name = 'todos'"))
    return int(served.remote(f"SELECT {sb.row_hash_sql(types)} FROM todos WHERE id = {key}")[0][0])


def test_a_principal_cannot_learn_anothers_rows_counts_or_hashes(served: Served) -> None:
    with served.client("alice") as alice, served.client(SNEAKY) as sneaky:
        survey = alice.post("/api/v1/sync/survey", json={}).json()
        assert sorted((t["info"]["name"], t["rows"]) for t in survey["tables"]) == [
            ("products", 2), ("todos", 10)]
        assert sneaky.post("/api/v1/sync/survey", json={"tables": ["todos", "secrets"]}
                           ).json()["tables"][0]["rows"] == 0
        for client, n in ((alice, 10), (sneaky, 0)):
            sums = client.post("/api/v1/sync/tables/todos/checksums",
                               json={"key": ["id"], "modulus": 1})
            got = pa.ipc.open_stream(sums.content).read_all().to_pylist()
            assert sum(r["n"] for r in got) == n
            hashes = client.post("/api/v1/sync/tables/todos/hashes",
                                 json={"key": ["id"], "modulus": 1, "buckets": [0]})
            keys = {r["id"] for r in pa.ipc.open_stream(hashes.content).read_all().to_pylist()}
            assert keys == ({i for i in range(30) if i % 3 == 0} if n else set())
        wanted = pa.table({"id": pa.array([1, 2, 3], pa.int32())})  # bob, carol, alice
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, wanted.schema) as writer:
            writer.write_table(wanted)
        rows = alice.post("/api/v1/sync/tables/todos/rows", params={"key": ["id"]},
                          content=sink.getvalue().to_pybytes(),
                          headers={"content-type": "application/vnd.apache.arrow.stream"})
        assert [r["id"] for r in pa.ipc.open_stream(rows.content).read_all().to_pylist()] == [3]
        after = alice.post("/api/v1/sync/tables/todos/rows-after",
                           json={"column": "id", "after": None})
        assert {r["owner"] for r in pa.ipc.open_stream(after.content).read_all().to_pylist()
                } == {"alice"}
        denied = alice.get("/api/v1/sync/tables/secrets")
        assert denied.status_code == 403 and "sync rules" in denied.json()["error"]["message"]
        dropped = alice.delete("/api/v1/sync/tables/todos")
        assert dropped.status_code == 403 and "shared" in dropped.json()["error"]["message"]
        sizes = alice.get("/api/v1/remote/tables").json()["tables"]
        assert all(t["rows"] is None for t in sizes)
        console = alice.post("/api/v1/console/query", json={"sql": "SELECT count(*) FROM todos"})
        assert console.status_code == 403 and "sync rules" in console.json()["error"]["message"]
        service = alice.post("/api/v1/console/query", json={"sql": "SELECT count(*) AS n FROM "
                                                             "todos"},
                             headers={"authorization": f"Bearer {SERVICE_KEY}"})
        assert pa.ipc.open_stream(service.content).read_all().to_pylist() == [{"n": 30}]


def test_a_row_reassigned_on_the_remote_leaves_the_old_owners_device(served: Served) -> None:
    alice, bob = served.tmp / "alice.duckdb", served.tmp / "bob.duckdb"
    served.sync("alice", alice)
    served.sync("bob", bob)
    def forget_cached_answers() -> None:  # an operator's write, made beside the server
        served.app.state.ctx.pool.reads.begin_write()
        served.app.state.ctx.pool.reads.end_write({})
        served.app.state.ctx.pool.hashes.begin_write()
        served.app.state.ctx.pool.hashes.end_write({})

    served.remote("UPDATE todos SET owner = 'bob' WHERE id = 0")
    forget_cached_answers()
    gone = served.sync("alice", alice)
    assert gone["converged"] and _rows(alice, "SELECT count(*) FROM todos WHERE id = 0") == [(0,)]
    arrived = served.sync("bob", bob)
    assert arrived["converged"] and _rows(bob, "SELECT owner FROM todos WHERE id = 0") == [
        ("bob",)]
    assert served.remote("SELECT count(*) FROM todos") == [(30,)]  # nobody's row was deleted
    # most of alice's rows leave her slice at once: to her device that is a mass delete,
    # and the guard holds it (her copy stays) until she allows it (docs/rules.md)
    served.remote("UPDATE todos SET owner = 'carol' WHERE owner = 'alice' AND id > 10")
    forget_cached_answers()
    held = served.sync("alice", alice, tables=["todos"], mass_delete_min_rows=5)
    assert held["tables"][0]["mass_delete"] == {"side": "local", "rows": 6, "of": 9}
    assert _rows(alice, "SELECT count(*) FROM todos") == [(9,)]
    allowed = served.sync("alice", alice, tables=["todos"], mass_delete_min_rows=5,
                          allow_mass_delete=True)
    assert allowed["converged"] and _rows(alice, "SELECT count(*) FROM todos") == [(3,)]
    assert served.remote("SELECT count(*) FROM todos") == [(30,)]


def test_parameters_are_bound_never_spliced_claims_included(tmp_path: Path) -> None:
    remote = tmp_path / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, org VARCHAR, owner VARCHAR)")
        con.execute("INSERT INTO docs VALUES (1, 'acme', 'a'), (2, 'globex', 'b'), "
                    "(3, 'acme', 'c')")
    rules = Rules.parse({"tables": {"docs": {"filter": "org = $claims.org AND owner <> $user"}}})
    store = NativeRemoteStore(spec=str(remote))

    async def visible(who: Principal) -> list[int]:
        store.scopes = rules.scopes_for(who)
        hashed = await store.bucket_hashes("docs", ["id"], 1, [])
        return sorted(r["id"] for r in pa.ipc.open_stream(hashed).read_all().to_pylist())

    def principal(org: Any, user: str = "z") -> Principal:
        return Principal(subject=user, kind="user", session="s", claims={"org": org})

    try:
        assert asyncio.run(visible(principal("acme"))) == [1, 3]
        assert asyncio.run(visible(principal("acme", user="a"))) == [3]
        for attack in ("acme' OR 'a'='a", "x') OR (1=1", "acme'; DROP TABLE docs; --"):
            assert asyncio.run(visible(principal(attack))) == []
        assert asyncio.run(visible(principal("globex", user="' OR 1=1 --"))) == [2]
        no_claim = Principal(subject="a", kind="user", session="s")
        assert "docs" not in rules.scopes_for(no_claim)
        with pytest.raises(Exception, match="claim 'org'"):
            rules.scopes_for(no_claim, "docs")
    finally:
        store.close()


BAD_RULES = [
    ('[tables.todos]\nfilter = "owner = $usr"\n', "unknown parameter '.usr'"),
    ('[tables.todos]\nfilter = "owner = $user; DROP TABLE todos"\n', "holds ;"),
    ('[tables.todos]\nfilter = "owner IN (SELECT owner FROM secrets)"\n', "subquery"),
    ('[tables.todos]\nfilter = "owner = $user) OR (true"\n', "parenthesis it did not open"),
    ('[tables.todos]\nfilter = "owner = $user -- mine"\n', "comment"),
    ('[tables.todos]\nfilter = "ownr = $user"\n', "does not fit the table on the remote"),
    ('[tables.todos]\nfilter = "owner + 1 = $user"\n', "does not fit the table"),
    ('[tables.todos]\nfilter = "owner = $user"\naccess = "write"\n', "access = 'write'"),
    ('[tables.todos]\nfilter = "getenv(\'HOME\') = $user"\n', "getenv"),
    ('[tables.todos]\nfiltr = "owner = $user"\n', "unknown key"),
    ('[tables.todos\nfilter = 1\n', "not valid TOML"),
    ('[tables.nothere]\nfilter = "true"\naccess = "read"\n', "never created"),
]


@pytest.fixture(scope="module")
def seeded_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A cursor on the seeded remote, as the server checks its rules at start."""
    from ducksync.server.remote import RemoteDatabase

    remote = tmp_path_factory.mktemp("catalog") / "remote.duckdb"
    _seed(remote)
    database = RemoteDatabase(spec=str(remote))
    try:
        with database.cursor() as cursor:
            yield cursor
    finally:
        database.close()


@pytest.mark.parametrize(("text", "message"), BAD_RULES)
def test_a_rules_file_with_a_mistake_refuses_to_start(tmp_path: Path, text: str, message: str,
                                                      seeded_remote: Any) -> None:
    """What ``create_app`` runs (``ServerContext.build``): load, then the remote check."""
    (tmp_path / "rules.toml").write_text(text)
    with pytest.raises(RulesError, match=message) as caught:
        Rules.load(tmp_path / "rules.toml").check_remote(seeded_remote)
    assert "[tables." in str(caught.value) or "TOML" in str(caught.value)


def test_serve_with_a_bad_rules_file_exits_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ducksync serve --rules`` (its entry point, in process): exit 2, one line."""
    from ducksync.cli import main

    (tmp_path / "rules.toml").write_text('[tables.todos]\nfilter = "owner = $usr"\n')
    code = main(["serve", "--remote", str(tmp_path / "r.duckdb"), "--rules",
                 str(tmp_path / "rules.toml"), "--port", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ducksync: error: ") and err.count("\n") == 1
    assert "[tables.todos]" in err and "$usr" in err


def test_rules_hold_on_the_md_backend_with_two_engines(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``md:`` path (no read cache; temp tables on "the client", hashes only from
    statements over remote tables): scoped reads and screened writes hold there too."""
    from test_cloud_standin_server import TOKEN, Cloud

    from ducksync.server.remote import RemoteDatabase

    monkeypatch.setenv("MOTHERDUCK_TOKEN", TOKEN)
    cloud = Cloud(tmp_path / "cloud.duckdb")
    _seed(cloud.path)
    (tmp_path / "rules.toml").write_text(RULES)
    stored = hash_password(PASSWORD)
    app = create_app(Settings(remote="md:cloud", rules_file=tmp_path / "rules.toml",
                              web_root=tmp_path, users=(f"alice:{stored}", f"bob:{stored}")),
                     database=RemoteDatabase(spec="md:cloud", opener=cloud.open),
                     store_factory=cloud.store)
    served = Served(app, tmp_path)
    try:
        alice, bob = tmp_path / "alice.duckdb", tmp_path / "bob.duckdb"
        assert served.sync("alice", alice, tables=["todos"])["converged"]
        with duckdb.connect(str(alice)) as con:
            con.execute("INSERT INTO todos VALUES (200, 'alice', 'mine'), (201, 'bob', 'no')")
        pushed = served.sync("alice", alice, tables=["todos"])["tables"][0]
        assert (pushed["pushed"], pushed["rejections"]) == (1, 1)
        assert served.sync("bob", bob, tables=["todos"])["converged"]
        assert _rows(bob, "SELECT count(*), min(owner), max(owner) FROM todos") == [
            (10, "bob", "bob")]
        assert served.remote("SELECT id FROM todos WHERE id >= 200") == [(200,)]
    finally:
        app.state.ctx.pool.close()
        app.state.remote.close()


def test_the_cli_signs_in_with_user_and_password_and_exits_1_on_a_rejection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI against a real ``ducksync serve --rules``: DUCKSYNC_USER/DUCKSYNC_PASSWORD
    sign in, alice pulls only her rows, her row for bob is rejected (exit 1, said in
    words, listed by ``ducksync rejections``), and bob's rows stay as they were."""
    from serverutil import running_server

    _seed(tmp_path / "remote.duckdb")
    (tmp_path / "rules.toml").write_text(RULES)
    stored = hash_password(PASSWORD)
    env = {"DUCKSYNC_RULES": str(tmp_path / "rules.toml"),
           "DUCKSYNC_USERS": f"alice:{stored},bob:{stored}", "DUCKSYNC_LOG_JSON": "0"}
    local = tmp_path / "alice.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE todos (id INTEGER PRIMARY KEY, owner VARCHAR, title VARCHAR)")
        con.execute("INSERT INTO todos VALUES (500, 'bob', 'for bob'), (501, 'alice', 'mine')")
    monkeypatch.setenv("DUCKSYNC_USER", "alice")
    monkeypatch.setenv("DUCKSYNC_PASSWORD", PASSWORD)

    def cli(*args: str) -> tuple[int, str]:
        """The ``ducksync`` entry point in process (the server is the real process)."""
        from ducksync.cli import main

        code = main(list(args))
        return code, capsys.readouterr().out

    with running_server(tmp_path, env=env) as server:
        code, out = cli("sync", str(local), server.url, "--table", "todos")
        assert code == 1, out
        assert "1 row(s) rejected by the server's sync rules" in out
        assert "pushed 1, pulled 10" in out
        code, out = cli("rejections", str(local))
        assert code == 1
        assert "todos key=500: the row as changed would not be yours" in out
        # named by its values too, as a conflict's key is: retried, it is listed no more
        assert cli("rejections", str(local), "--retry", "[500]")[0] == 0
        assert cli("rejections", str(local)) == (0, "")
        with httpx.Client(base_url=server.url) as client:
            token = client.post("/api/v1/auth/login", json={
                "username": "bob", "password": PASSWORD}).json()["token"]
            client.cookies.clear()
            survey = client.post("/api/v1/sync/survey", json={"tables": ["todos"]},
                                 headers={"authorization": f"Bearer {token}"}).json()
        assert survey["tables"][0]["rows"] == 10  # bob's ten; alice's push reached none
    assert _rows(local, "SELECT count(*) FROM todos WHERE owner = 'alice'") == [(11,)]


def test_the_browser_sync_service_reports_lists_and_discards_rejections(
        tmp_path: Path) -> None:
    """The page's sync service (CPython, the worker's code) through the port store's HTTP
    mapping, against a rules server in open loopback dev mode (subject ``dev``): status,
    the ``rejection`` event, the list with this device's row, discard."""
    from ducksync.stores.native import NativeLocalStore
    from ducksync.worker.port_store import PortRemoteStore
    from ducksync.worker.remote_calls import HttpAnswer, HttpCall, serve_call
    from ducksync.worker.sync_service import SyncService
    from serviceutil import status_at_start

    remote = tmp_path / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE todos (id INTEGER PRIMARY KEY, owner VARCHAR, title VARCHAR)")
        con.execute("INSERT INTO todos VALUES (1, 'dev', 'mine'), (2, 'bob', 'his')")
    (tmp_path / "rules.toml").write_text('[tables.todos]\nfilter = "owner = $user"\n')
    app = create_app(Settings(remote=str(remote), rules_file=tmp_path / "rules.toml",
                              web_root=tmp_path))

    async def fetch(call: HttpCall, ipc: Any) -> HttpAnswer:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://rules.test") as client:
            r = await client.request(call.method, call.path, params=call.query, json=call.json,
                                     content=ipc if call.body_ipc else None)
        arrow = r.headers.get("content-type", "").startswith("application/vnd.apache.arrow")
        return HttpAnswer(status=r.status_code, json=None if arrow else r.json(),
                          ipc=r.content if arrow else None, headers=dict(r.headers),
                          wire=len(r.content),
                          rows=pa.ipc.open_stream(r.content).read_all().num_rows
                          if arrow and r.content else 0)

    async def transport(method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        return await serve_call(method, args, ipc, fetch)

    events: list[tuple[str, dict[str, Any]]] = []
    local = NativeLocalStore(spec=str(tmp_path / "page.duckdb"))
    svc = SyncService(local=local, remote=PortRemoteStore(transport=transport),
                      emit=lambda kind, payload: events.append((kind, payload)))
    try:
        assert asyncio.run(svc.sync(tables=["todos"]))["pulled"] == 1
        local.con.execute("INSERT INTO todos VALUES (3, 'bob', 'planted')")
        summary = asyncio.run(svc.sync(tables=["todos"]))
        assert (summary["rejections"], summary["converged"]) == (1, False)
        assert svc.snapshot()["rejections"] == 1
        assert ("rejection", {"pending": 1, "tables": ["todos"]}) in events
        listed = asyncio.run(svc.rejections())
        assert [(r["key"], r["reason"]) for r in listed] == [("3", rejections.OUTSIDE)]
        assert "planted" in listed[0]["local"]
        # a reloaded page shows the stored count at start, not only once a sync ends
        reloaded = SyncService(local=local, remote=svc.remote, emit=lambda kind, payload: None)
        assert asyncio.run(status_at_start(reloaded))["rejections"] == 1
        assert asyncio.run(svc.settle_rejection("todos", "3", "discard")) == {"pending": 0}
        assert asyncio.run(svc.sync(tables=["todos"]))["converged"]
        assert local.con.execute("SELECT id FROM todos ORDER BY id").fetchall() == [(1,)]
    finally:
        local.close()
        app.state.ctx.pool.close()
        app.state.remote.close()


def test_a_table_the_rules_name_is_created_only_with_the_columns_its_filter_needs(
        served: Served) -> None:
    lacking = {"columns": [{"name": "id", "type": "INTEGER", "nullable": False},
                           {"name": "body", "type": "VARCHAR"}], "primary_key": ["id"]}
    fitting = {"columns": [*lacking["columns"], {"name": "author", "type": "VARCHAR"}],
               "primary_key": ["id"]}
    with served.client("alice") as alice:
        refused = alice.put("/api/v1/sync/tables/notes", json=lacking)
        assert refused.status_code == 409, refused.text
        assert "[tables.notes]" in refused.json()["error"]["message"]
        assert served.remote("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'notes'"
                             ) == [(0,)]
        read_only = alice.put("/api/v1/sync/tables/products", json=fitting)
        assert read_only.status_code == 403
        assert alice.put("/api/v1/sync/tables/notes", json=fitting).status_code == 200


def test_per_organisation_rows_come_from_the_jwts_verified_claims(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``org = $claims.org`` with the app's own identity provider (an HS256 JWT): each
    organisation's members see its rows, a claim that is an injection attempt sees
    nothing, and a token without the claim does not sync the table (told why)."""
    import time

    import jwt
    from fastapi.testclient import TestClient

    remote = tmp_path / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE projects (id INTEGER PRIMARY KEY, org VARCHAR, name VARCHAR)")
        con.execute("INSERT INTO projects VALUES (1, 'acme', 'a1'), (2, 'acme', 'a2'), "
                    "(3, 'globex', 'g1')")
    (tmp_path / "rules.toml").write_text('[tables.projects]\nfilter = "org = $claims.org"\n')
    secret = "rules-test-jwt-secret-0123456789abcdef"
    monkeypatch.setenv("DUCKSYNC_JWT_SECRET", secret)
    monkeypatch.setenv("DUCKSYNC_JWT_ISSUER", "https://id.test/")
    monkeypatch.setenv("DUCKSYNC_JWT_AUDIENCE", "ducksync")
    app = create_app(Settings.from_env(remote=str(remote), web_root=tmp_path,
                                       rules_file=tmp_path / "rules.toml"))

    def token(sub: str, **claims: Any) -> dict[str, str]:
        now = int(time.time())
        signed = jwt.encode({"sub": sub, "iss": "https://id.test/", "aud": "ducksync",
                             "iat": now, "exp": now + 300, **claims}, secret, algorithm="HS256")
        return {"authorization": f"Bearer {signed}"}

    with TestClient(app) as client:
        def rows(headers: dict[str, str]) -> list[int]:
            answer = client.post("/api/v1/sync/tables/projects/rows-after",
                                 json={"column": "id", "after": None}, headers=headers)
            assert answer.status_code == 200, answer.text
            return [r["id"] for r in pa.ipc.open_stream(answer.content).read_all().to_pylist()]

        assert rows(token("alice", org="acme")) == [1, 2]
        assert rows(token("bob", org="globex")) == [3]
        assert rows(token("mallory", org="acme' OR 'a'='a")) == []
        listed = client.post("/api/v1/sync/tables/projects/rows-after",  # a list is bound
                             json={"column": "id", "after": None},  # as a list: no match,
                             headers=token("eve", org=["acme", "globex"]))  # a type error
        assert listed.status_code == 400 and b"a1" not in listed.content
        bare = token("carol")
        survey = client.post("/api/v1/sync/survey", json={}, headers=bare).json()
        assert survey["tables"] == []
        refused = client.post("/api/v1/sync/tables/projects/rows-after",
                              json={"column": "id", "after": None}, headers=bare)
        assert refused.status_code == 403 and "claim 'org'" in refused.json()["error"]["message"]
