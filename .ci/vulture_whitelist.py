"""Names the dead-code check of .ci/run (vulture) cannot see used, each with why. Vulture reads
this file, nobody runs it.

Python or a library reaches these itself, not a call in the code:
"""

from bnlint import __getattr__  # `bnlint.fold`, `bnlint.check`: the module attribute hook

__getattr__
visit_AssignTarget  # libcst calls visit_<Node> methods of a visitor by name
visit_AnnAssign
__call__  # a callback Protocol's signature (evaluate._Handler): its callers call the object

# Unused today in modules being rewritten on other branches; each goes (with its line here)
# when that rewrite lands.
iter_python_files  # bnlint/discovery.py
current_file  # bnlint/static/interp.py
ModuleLike  # bnlint/static/values.py
