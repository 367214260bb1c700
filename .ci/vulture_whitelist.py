"""Names the dead-code check of .ci/run (vulture) cannot see used, each with why. Vulture reads
this file, nobody runs it.

Python itself reaches these, not a call in the code:
"""

from bnlint import __getattr__  # `bnlint.fold`, `bnlint.check`: the module attribute hook

__getattr__

# Unused today in modules being rewritten on other branches; each goes (with its line here)
# when that rewrite lands.
iter_python_files  # bnlint/discovery.py
build_candidates  # bnlint/static/build.py
all_instances  # bnlint/static/build.py
entries_owned_by  # bnlint/static/build.py
visit_AssignTarget  # bnlint/static/classes.py
visit_AnnAssign  # bnlint/static/classes.py
current_file  # bnlint/static/interp.py
short_name  # bnlint/static/torch_api.py
ModuleLike  # bnlint/static/values.py
