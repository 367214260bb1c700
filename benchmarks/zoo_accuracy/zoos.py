"""The public model zoos the accuracy harness measures: which release, where its sources are laid
out (as in its public repository), and from which folder `bnlint check` runs.

Shared by prepare.py, runtime_truth.py and score.py; imports nothing beyond the standard
library, so it loads in the project's venv and in the heavy runtime venv alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Zoo:
    name: str  # how the harness names it: --zoo NAME, truth/NAME.json
    requirement: str  # what pip downloads and installs (always a pinned release)
    package: str  # the top-level import package
    repo: str  # the repository folder under the sources folder
    source_root: str  # folder of the repository (relative to it) that holds `package`
    # Subpackages to keep, with everything they import of the package; empty: keep all.
    keep: tuple[str, ...] = ()
    # The zoos this one's models are built on, as its users have them installed: their
    # sources stand in for the installed packages (`bnlint check --library-path`).
    depends_on: tuple[str, ...] = ()

    @property
    def wheel_prefix(self) -> str:
        """How the wheel's file name starts: `segmentation_models_pytorch-0.6.0-`."""
        dist, _, version = self.requirement.partition("==")
        return f"{dist.replace('-', '_')}-{version}-"

    def check_dir(self) -> PurePosixPath:
        """Where `bnlint check` runs, relative to the sources folder: the folder users run from
        (the one with the project's setup files)."""
        return PurePosixPath(self.repo) / self.source_root

    def owns(self, class_name: str) -> bool:
        """Whether a class named by its dotted import path is defined in this zoo."""
        return class_name.startswith(self.package + ".")


ZOOS: tuple[Zoo, ...] = (
    Zoo("timm", "timm==1.0.31", "timm", "pytorch-image-models", "."),
    Zoo("torchvision", "torchvision==0.29.1", "torchvision", "vision", ".", keep=("models", "ops")),
    # imgclsmob keeps each framework's package in its own folder, with its own setup.py.
    Zoo("pytorchcv", "pytorchcv==0.0.74", "pytorchcv", "imgclsmob", "pytorch"),
    # Registry-built and dimension-generic: Conv[Conv.CONV, dims], Norm[Norm.BATCH, dims].
    Zoo("monai", "monai==1.6.1", "monai", "MONAI", "."),
    # Encoder-decoder composition: encoders subclass other zoos' networks, decoders build
    # Conv2dReLU(nn.Sequential) blocks whose norm is chosen by a string or a dict.
    Zoo(
        "smp",
        "segmentation_models_pytorch==0.6.0",
        "segmentation_models_pytorch",
        "segmentation_models.pytorch",
        ".",
        depends_on=("torchvision", "timm"),
    ),
)

BY_NAME = {zoo.name: zoo for zoo in ZOOS}


def zoo_of_class(class_name: str) -> Zoo | None:
    """The zoo that defines a class (by its dotted import path), or None (torch, others)."""
    return next((zoo for zoo in ZOOS if zoo.owns(class_name)), None)
