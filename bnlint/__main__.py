"""`python -m bnlint` runs the command line."""

import os
import sys

# `python -m` puts the working directory first on sys.path: a project file named like a
# library bnlint imports (libcst.py, pathspec.py) would be imported, that is run, instead.
# bnlint's own modules are found through the package, so the entry can go.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from bnlint.cli import main  # noqa: E402

raise SystemExit(main())
