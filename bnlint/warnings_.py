"""bnlint's warning class, importable without torch."""


class FoldWarning(UserWarning):
    """Raised (as a warning) for every BatchNorm the runtime checker leaves alone and every
    structure it cannot handle; turn it into an error with `-W error::bnlint.FoldWarning`."""
