"""Small helpers shared by the demo page's UI modules (MicroPython main thread)."""

import json

from pyscript import document, window
from pyscript.ffi import create_proxy

PLAIN_WORDS = {
    "query": "DuckDB could not run this SQL",
    "duckdb_crashed": "The local database restarted",
    "worker_failed": "The local database is not available",
    "protocol": "The page and its worker disagree (reload the page)",
    "backup": "The backup could not be used",
    "remote_unavailable": "The server could not be reached",
    "cancelled": "Cancelled",
    "auth": "Not signed in to the server",
}
# The start of a message that only restates a lead's plain words (the workers' and
# session.js's own, kept whole for logs): said once, the rest kept as the cause.
# The page's own way out, said instead of the engine's hint where the page has one: the
# engine's hints lead with CLI commands (`ducksync pull LOCAL REMOTE --table t`), which
# a page user cannot run; the sync panel's "Stopped tables" has a button for each.
PAGE_HINTS = {
    "table_dropped": "use the table's buttons under Stopped tables below: get it back, or "
                     "drop it everywhere",
    "mass_delete": "confirm the deletion with the table's button under Stopped tables "
                   "below, or undo it to keep the rows",
}

RESTATED = {"The server could not be reached": "cannot reach the server",
            "Could not reach MotherDuck": "cannot connect to motherduck"}


def el(name):
    return document.getElementById(name)


def from_js(value):
    return json.loads(window.JSON.stringify(value))


def escape(value):
    text = "NULL" if value is None else (value if isinstance(value, str) else json.dumps(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")


def js_obj(value):
    """A plain JS object (options for the client: MicroPython dicts are not JS objects)."""
    return window.JSON.parse(json.dumps(value))


def sentence(text):
    """``text`` as a sentence: capital first letter, closing full stop. Messages come
    from DuckDB, the browser ("Failed to fetch") and our hints, most without a stop;
    joined bare they run together."""
    text = str(text).strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."


def count(n, word, plural=None):
    """``1 row``, ``2 rows``: the number with the word in the right number."""
    return str(n) + " " + (word if n == 1 else (plural or word + "s"))


# A table the engine created for a bootstrap gets its key after its last rows arrive
# (engine/bootstrap.py): until then DuckDB's catalog shows no key, yet the table syncs.
KEY_OWED_WORDS = "added when every row is here"
KEY_OWED_STATE = "pull not finished: its key is " + KEY_OWED_WORDS
# A copy kept after unsubscribing keeps its sync state (a later hold resumes from it),
# yet no sync covers it: never "synced" (``syncTables()``'s ``held``).
NOT_HELD_STATE = "not synced (this device does not hold it)"


def no_tables_words(syncing):
    """An empty tables list: while a sync runs (a new device's first), the server's
    tables are on their way, and "create one" alone read as if there were none."""
    if syncing:
        return "No tables here yet: the server's tables arrive with the sync under way."
    return "No tables yet: create one in the console below."


def failed_state(error):
    """A table's state when its last sync failed: the message's first clause (the sync
    panel's note carries the whole message and what to do)."""
    message = str(error.get("message") or error.get("code") or "unknown error")
    for stop in (" (", ";", ": "):
        clause = message.split(stop)[0].strip()
        message = clause or message
    return "last sync failed: " + message


def online_words(status):
    """The connection in a word; "connecting" while the remote worker still starts (the
    header said "offline" for the first seconds of every visit)."""
    if status.get("online"):
        return "online"
    phase = (status.get("remote") or {}).get("phase") or "booting"
    return "connecting" if phase == "booting" else "offline"


def shown_key(key, owed=False):
    """A table's key columns in words; ``owed``: the key it gets after its last rows."""
    return ", ".join(key or []) + (" (" + KEY_OWED_WORDS + ")" if owed else "")


def lead_once(lead, message):
    """``lead: message``; ``lead (cause)`` when the message starts by saying the lead
    again ("The server could not be reached: cannot reach the server: ..." was shown)."""
    said = RESTATED.get(lead)
    if said and message.lower().startswith(said):
        cause = message[len(said):].strip(" :()")
        return lead + (" (" + cause + ")" if cause else "")
    return (lead + ": " if lead else "") + message


def plain_error(error):
    """An error dict ({code, message, hint}) in plain words, with the next step: each
    part a sentence."""
    lead = PLAIN_WORDS.get(str(error.get("code") or ""), "")
    text = sentence(lead_once(lead, str(error.get("message") or "unknown error")))
    hint = PAGE_HINTS.get(str(error.get("code") or "")) or error.get("hint")
    if hint:
        text += " What to do: " + sentence(hint)
    if error.get("request_id"):  # what the server's operator looks the failure up by
        text += " (request " + str(error.get("request_id")) + ")"
    return text


def stale_words(listing, error):
    """The server's tables as last read, while it cannot be read now: when, and why not
    (the lead only: the sync panel says what to do)."""
    lead = PLAIN_WORDS.get(str(error.code or ""), "")
    return "As read at " + str(listing.get("read_at") or "?") + ". " + sentence(
        lead_once(lead, str(error.message or "unknown error")))


def on_promise(promise, ok, failed):
    """``promise.then(ok, failed)`` with Python callbacks."""
    promise.then(create_proxy(ok), create_proxy(failed))
