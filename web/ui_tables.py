"""The tables the demo page shows, read in one place and drawn by every panel at once
(MicroPython).

The panels that list tables with their row counts: the sync panel's Tables list, the
schema browser's "On this device" and "On the server", and the Remote section's "hold
here" list. Each used to read for itself when a sync ended (the same lists asked twice,
every request at once to the one DuckDB worker), so each drew at its own moment: right
after a live pull the Tables list still showed the old count while the schema browser
showed the new one. Here each source is read once and the panels draw from the same
answers in the same turn:

* this device: the catalog and the exact row counts (:data:`ui_schema.CATALOG_SQL`,
  :func:`ui_schema.counts_sql`: the page's connection, what the console sees) and, when
  asked, the sync state (``syncTables()``); both panels take their rows from the counts;
* the server: ``remoteTables()`` and which tables this device holds (``subscriptions()``).

When: at start, when a sync run ends, after the page's own writes (the ``changed``
event, debounced so that a burst redraws once), when a count of changes not sent
arrives, and when asked (Refresh, an import, a hold changed, a transport switched). A
write re-reads the counts only: the sync state is re-read when a sync ends or a count
arrives, so that a write never makes the worker hash a table just to draw this.
Reads may overlap (a write during a sync's reads): each part keeps the newest read's
answer, never an older one that came back later.
"""

from pyscript import window
from pyscript.ffi import create_proxy

from ui_common import from_js, on_promise
from ui_schema import CATALOG_SQL, counts_sql, group_catalog

REFRESH_DELAY_MS = 150  # a burst of writes (an import, a script) redraws once


class PageTables:
    """What the panels draw: ``local`` = ``{tables, counts, synced, unsent, syncing}``
    (the catalog grouped per table, their row counts in the same order, ``syncTables()``
    entries by name, changes not sent by name, a sync running) for each view's
    ``draw_local(local)``; the server's listing (as last read, with ``read_at``), this
    device's choices and the error of the last read, if any, for each view's
    ``draw_remote(listing, subs, error)``."""

    def __init__(self, client):
        self.client = client
        self.views = []
        self.local = {"tables": [], "counts": [], "synced": {}, "unsent": {},
                      "syncing": False}
        self.seq = 0  # reads started
        # the read each part's answer is from
        self.newest = {"counts": 0, "synced": 0, "listing": 0, "subs": 0}
        self.remote_seq = 0
        # the server's tables and this device's choices (subscriptions), as last read
        self.remote = {"listing": None, "subs": None, "error": None}
        self.remote_shown = None
        self.ticks = 0  # "hold here" ticks being saved
        self.clock = lambda: str(window.Date.new().toLocaleTimeString())  # "as read at"
        self.running = False
        self.event_unsent = {}  # changes not sent as the last sync event said
        self.timer = None
        client.on("sync", create_proxy(self.on_sync))
        client.on("changed", create_proxy(lambda _e: self.refresh_soon()))

    def add(self, view):
        self.views.append(view)

    # --- when -----------------------------------------------------------------------
    def on_sync(self, state):
        state = from_js(state)
        ended = self.running and not state.get("running")
        started = not self.running and state.get("running")
        self.running = self.local["syncing"] = bool(state.get("running"))
        unsent = state.get("unsent_tables") or {}
        if started and not self.local["tables"]:
            self.draw_local()  # an empty list says the tables are on their way
        moved = unsent != self.event_unsent  # compared with the events' own (the list
        self.event_unsent = unsent  # merges syncTables()' counts into its copy)
        if ended:  # a sync may have created tables and moved rows, here and there
            self.local["unsent"] = dict(unsent)
            self.refresh()
        elif moved:
            counted = any(n is not None for n in unsent.values())
            self.local["unsent"] = dict(unsent)
            if counted:  # a count arrived: the tables list says which (and which lack a key)
                self.read_local(sync_state=True)
            else:
                self.draw_local()

    def refresh(self, *_args):
        self.read_local(sync_state=True)
        self.read_remote()

    def refresh_soon(self):
        if self.timer is not None:
            window.clearTimeout(self.timer)
        self.timer = window.setTimeout(create_proxy(self.counts_only), REFRESH_DELAY_MS)

    def counts_only(self, *_args):
        self.timer = None
        self.read_local(sync_state=False)

    # --- this device ----------------------------------------------------------------
    def read_local(self, sync_state):
        """The counts (and the sync state): every panel draws once all of them are in."""
        self.seq += 1
        seq, got = self.seq, {}
        waiting = ["counts", "synced"] if sync_state else ["counts"]

        def arrived(part, value):
            got[part] = value
            waiting.remove(part)
            if not waiting:
                self.settle(seq, got)

        def failed(part):
            return lambda err: (self.failed(err), arrived(part, None))

        def catalog(result):
            tables = group_catalog(from_js(result.rows))
            if not tables:
                arrived("counts", ([], []))
                return
            pairs = [(t["schema"], t["table"]) for t in tables]
            on_promise(self.client.queryTable(counts_sql(pairs)),
                       lambda r: arrived("counts", (tables, from_js(r.rows)[0])),
                       failed("counts"))

        on_promise(self.client.queryTable(CATALOG_SQL), catalog, failed("counts"))
        if sync_state:
            on_promise(self.client.syncTables(), lambda s: arrived("synced", from_js(s)),
                       failed("synced"))

    def settle(self, seq, got):
        local = self.local
        if got.get("counts") is not None and seq > self.newest["counts"]:
            self.newest["counts"] = seq
            local["tables"], local["counts"] = got["counts"]
        if got.get("synced") is not None and seq > self.newest["synced"]:
            self.newest["synced"] = seq
            local["synced"] = {t["table"]: t for t in got["synced"]}
            for t in got["synced"]:
                if t.get("unsent") is not None:
                    local["unsent"][t["table"]] = t["unsent"]
        self.draw_local()

    def draw_local(self):
        for view in self.views:
            if hasattr(view, "draw_local"):
                view.draw_local(self.local)

    def failed(self, err):
        for view in self.views:
            if hasattr(view, "read_failed"):
                view.read_failed(err)

    # --- the server -----------------------------------------------------------------
    def read_remote(self, redraw=False):
        """The server's tables and this device's choices, asked together; both lists draw
        from the newest answer of each as soon as both are known, and again whenever one
        moves (``redraw``: even if nothing moved, e.g. to undo a tick that failed). A tick
        here hands its answer straight in (:meth:`took_choices`)."""
        if redraw:
            self.remote_shown = None
        self.remote_seq += 1
        seq = self.remote_seq

        def take(part, value, error=None):
            if seq < self.newest[part]:
                return  # a newer read answered already
            self.newest[part] = seq
            self.remote[part] = value
            if part == "listing" or error is not None:
                self.remote["error"] = error
            self.draw_remote()

        def listed(reply):
            listing = from_js(reply)
            listing["read_at"] = self.clock()
            take("listing", listing)

        # the server unreachable: its tables as last read stay, said to be so (the lists
        # were replaced by the error, the "hold here" boxes with them, though holding is
        # this device's choice and works offline)
        on_promise(self.client.remoteTables(), listed,
                   lambda err: take("listing", self.remote["listing"], err))
        on_promise(self.client.subscriptions(), lambda r: take("subs", from_js(r)),
                   lambda err: take("subs", self.remote["subs"], err))

    def ticking(self):
        """A "hold here" tick is being saved: the lists keep the box as the user left it
        until its answer (:meth:`took_choices`, or :meth:`tick_failed`); a read answered
        meanwhile may predate it (unticking the table a run pulls ends that run, whose
        end reads the choices again)."""
        self.ticks += 1

    def tick_failed(self):
        self.ticks -= 1
        self.read_remote(redraw=True)  # the box back as the choices stand

    def took_choices(self, subs):
        """A tick's answer (``subscribe`` / ``unsubscribe``): the choices now, newer than
        any read already asked (which may have been answered before the tick)."""
        self.ticks -= 1
        self.remote_seq += 1
        self.newest["subs"] = self.remote_seq
        self.remote["subs"] = from_js(subs)
        self.draw_remote()

    def draw_remote(self):
        r = self.remote
        if self.ticks:
            return  # the tick's answer draws
        if r["error"] is None and (r["listing"] is None or r["subs"] is None):
            return  # the first answers are not both in
        shown = (r["listing"], r["subs"], r["error"])
        if shown == self.remote_shown:
            return
        self.remote_shown = shown
        for view in self.views:
            if hasattr(view, "draw_remote"):
                view.draw_remote(r["listing"], r["subs"], r["error"])
