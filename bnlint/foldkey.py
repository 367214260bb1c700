"""Naming folds the way DESIGN.md defines: the owner module and paths relative to it."""

from __future__ import annotations

from collections.abc import Sequence

from bnlint.ftypes import FoldKey, FoldPair, LayerCall, Merge


def owner_frame_index(*calls: LayerCall) -> int:
    """Index in the scopes of the innermost module that contains every call and whose class is
    not exactly nn.Sequential / nn.ModuleList / nn.ModuleDict, nor defined in a model library
    the project uses (the root always counts): a project class holding a library's network
    owns the folds inside it, so that they are reported on the project."""
    scopes = [call.scope for call in calls]
    common = 0
    # A layer's own frame is never its owner: stop one short of the shortest scope.
    limit = min(len(scope) for scope in scopes) - 2
    while common < limit and len({scope[common + 1].name for scope in scopes}) == 1:
        common += 1
    while common > 0 and (scopes[0][common].is_plain_container or scopes[0][common].library):
        common -= 1
    return common


def relative_path(call: LayerCall, owner_index: int) -> str:
    return ".".join(frame.name for frame in call.scope[owner_index + 1 :])


def fold_key(conv: LayerCall | None, bn: LayerCall) -> FoldKey:
    """The key of a fold (conv given) or of a lone BatchNorm verdict (conv None)."""
    calls = (conv, bn) if conv is not None else (bn,)
    index = owner_frame_index(*calls)
    conv_path = relative_path(conv, index) if conv is not None else ""
    return FoldKey(owner=bn.scope[index].class_name, conv=conv_path, bn=relative_path(bn, index))


def merged_name(paths: Sequence[str], merge: Merge) -> str:
    """How a fold through a merge names its layers: "cat(a,b)" for a concatenation, "a+b" for
    a sum. No spaces, so the name stays one token wherever a layer path stands."""
    if merge is Merge.CAT:
        return f"cat({','.join(paths)})"
    return "+".join(paths)


def pair_key(pair: FoldPair) -> FoldKey:
    """The key of a fold; a fold through a merge is owned by the innermost module holding all
    its layers and the BatchNorm, and names every layer."""
    if pair.merge is None:
        return fold_key(pair.conv, pair.bn)
    index = owner_frame_index(*pair.producers, pair.bn)
    paths = tuple(relative_path(call, index) for call in pair.producers)
    return FoldKey(
        owner=pair.bn.scope[index].class_name,
        conv=merged_name(paths, pair.merge),
        bn=relative_path(pair.bn, index),
        producers=paths,
        merge=pair.merge,
    )


def pair_label(pair: FoldPair) -> str:
    """The layers of a fold by their labels (full module paths at runtime)."""
    if pair.merge is None:
        return pair.conv.label
    return merged_name([call.label for call in pair.producers], pair.merge)
