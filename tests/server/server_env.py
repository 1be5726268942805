"""Credentials and settings of the auth-enabled test server (plain constants, importable).

``MOTHERDUCK_TOKEN`` is set to a canary while the remote is a file: every response
and log line is later scanned for it.
"""

from __future__ import annotations

from ducksync.server.auth import hash_password

API_KEY = "dsk_test_0123456789abcdef0123456789abcdef"
OTHER_KEY = "dsk_test_fedcba9876543210fedcba9876543210"
USER, PASSWORD = "alice", "correct horse battery staple"
SECRET = "test-signing-secret-not-for-production"
CANARY = "mdcanary_7f3a9c1e5b2d4f6a8c0e1d3b5a7f9e2c"
ORIGIN = "http://good.test"
TABLES = ("items", "notes", "kinds", "engine_items", "cli_items", "fuzz_items", "cli_dropped",
          "keyless_items", "all_types")
MAX_BODY = 256 * 1024


def auth_env() -> dict[str, str]:
    return {
        "DUCKSYNC_API_KEYS": f"{API_KEY},{OTHER_KEY}",
        "DUCKSYNC_USERS": f"{USER}:{hash_password(PASSWORD)}",
        "DUCKSYNC_SECRET": SECRET,
        "DUCKSYNC_TABLES": ",".join(TABLES),
        "DUCKSYNC_MAX_BODY_BYTES": str(MAX_BODY),
        "DUCKSYNC_READONLY_CONSOLE": "1",
        "DUCKSYNC_RATE_LIMIT": "100000",
        "DUCKSYNC_RATE_BURST": "100000",
        "ALLOWED_ORIGINS": ORIGIN,
        "MOTHERDUCK_TOKEN": CANARY,
    }
