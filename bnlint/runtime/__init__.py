"""The runtime checker: capture a real forward pass, fold, verify (needs torch).

Nothing is imported here, so that `import bnlint.runtime.command` (the CLI's argument parser)
works without torch; import `bnlint.runtime.fold` or call `bnlint.fold` to use it.
"""
