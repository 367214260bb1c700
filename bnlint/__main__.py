"""`python -m bnlint` runs the command line."""

from bnlint.cli import main

raise SystemExit(main())
