"""Loading trained weights into the model a factory built (`bnlint fold --checkpoint FILE`).

A checkpoint is untrusted input: it is read with `torch.load(weights_only=True)`, which
unpickles tensors and plain containers only and refuses any other Python object, so a
checkpoint can never run code. A whole pickled model (`torch.save(model)`) is refused for the
same reason; the message says to save `model.state_dict()` instead.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Where training scripts commonly keep the state dict inside a checkpoint dictionary.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
_LISTED = 3  # keys named in a mismatch message before "(+N more)"


class CheckpointError(Exception):
    """The checkpoint cannot be read or does not fit the model (the message says which)."""


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Copy the tensors of the state dict saved at `path` into `model`.

    Keys must match exactly, after dropping a `module.` prefix that (Distributed)DataParallel
    adds. A model built on the meta device takes the checkpoint's tensors as its own.
    """
    state = _state_dict(_read(path), path)
    own = model.state_dict()
    if not any(key in own for key in state) and all(k.startswith("module.") for k in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if missing or unexpected:
        parts = [
            f"{label} {_some(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise CheckpointError(f"checkpoint {path} does not fit the model: {'; '.join(parts)}")
    materialise = any(t.is_meta for t in (*model.parameters(), *model.buffers()))
    try:
        model.load_state_dict(state, strict=True, assign=materialise)
    except RuntimeError as error:  # shapes that differ, named by torch
        detail = "; ".join(line.strip() for line in str(error).splitlines()[1:] if line.strip())
        raise CheckpointError(
            f"checkpoint {path} does not fit the model: {detail or error}"
        ) from None


def _read(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found is None:
            raise CheckpointError(
                f"cannot load checkpoint {path}: it is not a file of tensors written by torch.save"
            ) from None
        raise CheckpointError(
            f"cannot load checkpoint {path}: it holds a pickled Python object "
            f"({found.group(1)}), and bnlint loads checkpoints with weights_only=True so that "
            "they can never run code; save model.state_dict() instead"
        ) from None
    except Exception as error:  # a truncated or corrupted archive fails in many ways
        raise CheckpointError(
            f"cannot load checkpoint {path}: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from None


def _state_dict(content: Any, path: Path) -> dict[str, torch.Tensor]:
    """The mapping of names to tensors in the loaded object (bare, or under a usual key)."""
    candidates = [content]
    if isinstance(content, Mapping):
        candidates += [content[key] for key in _WRAPPER_KEYS if key in content]
    for candidate in candidates:
        if (
            isinstance(candidate, Mapping)
            and candidate
            and all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in candidate.items()
            )
        ):
            return dict(candidate)
    raise CheckpointError(
        f"checkpoint {path} holds no state dict (a mapping of names to "
        f"tensors, bare or under one of the keys {', '.join(_WRAPPER_KEYS)})"
    )


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" (+{len(keys) - _LISTED} more)" if len(keys) > _LISTED else "")
