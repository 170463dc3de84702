"""``python -m kiosk``: the same as the ``kiosk`` command."""

from .cli import main

raise SystemExit(main())
