"""Entry point for ``python -m euralis_lib``."""

from euralis_lib.cli import main

raise SystemExit(main())
