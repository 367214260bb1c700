"""`bnlint check --confirm`: the static fold plan set against real models, BatchNorm by
BatchNorm. Importing this package does not import torch; building the models does."""

from bnlint.confirm.compare import compare_model

__all__ = ["compare_model"]
