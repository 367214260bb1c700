"""`bnlint check --fix`: source edits that make findings go away, keeping formatting.

`attach_fixes(result)` puts a Fix on every diagnostic bnlint knows how to fix (one fixer per
rule: containers.py for XBN303, bias.py for XBN401); `fix_files(result)` applies them in
memory and re-analyses the new text; the CLI writes what passed or shows it as a diff.
"""

from bnlint.fix.attach import FIXERS, attach_fixes
from bnlint.fix.run import FileChange, FixOutcome, Rejected, applicable, fix_files

__all__ = [
    "FIXERS",
    "FileChange",
    "FixOutcome",
    "Rejected",
    "applicable",
    "attach_fixes",
    "fix_files",
]
