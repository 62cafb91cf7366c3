"""Allow `python -m mailtickets`."""

from mailtickets.cli import main

raise SystemExit(main())
