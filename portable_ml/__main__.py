"""``python -m portable_ml``: the command line."""

from .cli import main

raise SystemExit(main())
