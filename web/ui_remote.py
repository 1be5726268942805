"""The Remote section of the demo page (MicroPython): pick how this tab reaches the remote.

``proxy`` (our server) or ``motherduck`` (MotherDuck directly, with a token the user
pastes). The token is read from its password input once, cleared from it at once, and
handed to ``client.setTransport``; it is never stored, printed or kept in this module
(docs/transports.md). ``?service=<same-origin module>`` in the page URL is passed on as
the SQL service (the browser tests' loopback stand-in); the remote worker honours it on
a loopback origin only.
"""

from pyscript import window
from pyscript.ffi import create_proxy

from ui_common import el, from_js, js_obj, on_promise

REFUSED = ("MotherDuck refused the token: paste a fresh token from app.motherduck.com "
           "(Settings → Access Tokens), then Connect again.")
FIELDS = ("remote-transport", "remote-token", "remote-database", "remote-connect")


def transport_error(err):
    """A failed switch in plain words, with the next step; never the token."""
    if str(err.code) == "auth":
        return REFUSED
    text = str(err.message or "unknown error")
    if str(err.code) == "remote_unavailable":
        text = "Could not reach MotherDuck: " + text
    if err.hint:
        text += " What to do: " + str(err.hint)
    return text


class RemotePanel:
    def __init__(self, client, after_switch):
        self.client = client
        self.after_switch = after_switch
        self.service = window.URLSearchParams.new(window.location.search).get("service")
        el("remote-transport").addEventListener("change", create_proxy(self.on_choice))
        el("remote-connect").addEventListener("click", create_proxy(self.connect))
        el("remote-token").addEventListener("keydown", create_proxy(self.on_key))
        self.on_choice()

    def start(self):
        self.busy(False)
        # Does our server apply sync rules? Then the direct transport would bypass them.
        on_promise(window.fetch("/api/v1/sync/config", js_obj({"cache": "no-store"})),
                   self.got_config_response, lambda _e: None)

    def got_config_response(self, response):
        if response.ok:
            on_promise(response.json(), self.got_config, lambda _e: None)

    def got_config(self, config):
        el("remote-rules-note").hidden = not from_js(config).get("rules")

    def on_choice(self, _event=None):
        el("remote-md").hidden = el("remote-transport").value != "motherduck"

    def on_key(self, event):
        if event.key == "Enter":
            event.preventDefault()
            self.connect()

    def busy(self, on):
        for name in FIELDS:
            el(name).disabled = on

    def say(self, text, state):
        box = el("remote-result")
        box.textContent = text
        box.dataset.state = state

    def connect(self, _event=None):
        transport = el("remote-transport").value
        options = {"transport": transport}
        if transport == "motherduck":
            token_input = el("remote-token")
            if not token_input.value.strip():
                self.say("Paste a MotherDuck token first (app.motherduck.com → Settings → "
                         "Access Tokens).", "failed")
                return
            database = el("remote-database").value.strip()
            options = {"transport": transport, "token": token_input.value.strip(),
                       "database": database or None, "service": self.service or None}
            token_input.value = ""  # used once: the worker holds it from here on
            self.say("Connecting to MotherDuck…", "running")
        else:
            self.say("Switching to our server…", "running")
        self.busy(True)
        on_promise(self.client.setTransport(js_obj(options)), self.switched, self.failed)

    def switched(self, reply):
        reply = from_js(reply)
        self.busy(False)
        if reply.get("transport") == "motherduck":
            self.say("Connected to MotherDuck (" + str(reply.get("remote") or "md:") +
                     "): syncs go there directly.", "done")
        else:
            self.say("Using our server (proxy).", "done")
        self.after_switch()

    def failed(self, err):
        self.busy(False)
        self.say(transport_error(err) + " The previous transport is still in use.", "failed")
