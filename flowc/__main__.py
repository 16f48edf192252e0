"""`python -m flowc` runs the command-line interface."""

from flowc.cli import main

raise SystemExit(main())
