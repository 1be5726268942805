"""The demo page's sign-in (MicroPython): who is signed in, the form, signing out.

Only draws and forwards: ``window.ducksyncSession`` (web/session.js) talks to the server
and decides which user's local database the page opened. Signing in as someone else,
or signing out, reloads the page, so nothing of the previous user's database stays in
memory; signing in again as the same user keeps the page and syncs. The password is
read from its input once and cleared at once; it is never kept here. See docs/auth.md.
"""

from pyscript import document, window
from pyscript.ffi import create_proxy

from ui_common import el, from_js, js_obj, on_promise, plain_error

WHY = {
    "signed-out": "This server asks who you are before syncing. Each user's data is kept in "
                  "its own database on this device.",
    "expired": "Your session ended: sign in again to sync. Your data on this device is still "
               "here and usable.",
}


class SignInPanel:
    def __init__(self, session, client):
        self.session = session
        self.client = client
        session.on(create_proxy(self.on_session))
        el("signin-form").addEventListener("submit", create_proxy(self.submit))
        el("signout").addEventListener("click", create_proxy(self.sign_out))
        self.render()
        if not client:  # nobody's database is open: only the form until someone signs in
            document.querySelector("main").hidden = True
            document.body.dataset.ready = "signin"

    def on_session(self, what, _state=None):
        if str(what) == "change":
            self.render()

    def render(self):
        state = from_js(self.session.state())
        mode, user = state.get("mode"), state.get("user")
        account = el("account")
        account.hidden = not user
        account.dataset.mode = str(mode)
        if user:
            if mode == "signed-in":
                text = "signed in as " + user
            elif mode == "offline":
                text = user + " (offline: this device's data)"
            else:
                text = user + " (signed out: sign in to sync)"
            el("account-user").textContent = text
        el("signin").hidden = mode not in WHY
        el("signin-why").textContent = WHY.get(mode, "")
        if mode == "expired" and user and not el("signin-user").value:
            el("signin-user").value = user

    def say(self, text):
        box = el("signin-error")
        box.textContent = text
        box.hidden = not text

    def submit(self, event):
        event.preventDefault()
        password = el("signin-password")
        username = el("signin-user").value.strip()
        secret = password.value
        password.value = ""
        self.say("")
        el("signin-submit").disabled = True
        on_promise(self.session.signIn(username, secret), self.signed_in, self.failed)

    def signed_in(self, result):
        result = from_js(result)
        if result.get("sameUser") and self.client:
            el("signin-submit").disabled = False
            self.client.sync().catch(create_proxy(lambda *_: None))  # shown by the sync panel
            return
        window.location.reload()  # another user's database: open it in a clean page

    def failed(self, err):
        el("signin-submit").disabled = False
        self.say(plain_error({"code": err.code, "message": err.message, "hint": err.hint}))

    def sign_out(self, _event=None):
        options = js_obj({"clear": bool(el("signout-clear").checked)})
        if self.client:
            options.client = self.client
        el("signout").disabled = True
        on_promise(self.session.signOut(options), lambda *_: window.location.reload(),
                   self.failed)
