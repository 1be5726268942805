"""``python -m ducksync`` is the ``ducksync`` command."""

from ducksync.cli import main

raise SystemExit(main())
