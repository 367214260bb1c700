"""Naming folds the way DESIGN.md defines: the owner module and paths relative to it."""

from __future__ import annotations

from bnlint.ftypes import FoldKey, LayerCall, ModuleFrame


def owner_frame_index(*calls: LayerCall) -> int:
    """Index in the scopes of the innermost module that contains every call and whose class is
    not exactly nn.Sequential / nn.ModuleList / nn.ModuleDict (the root always counts)."""
    scopes = [call.scope for call in calls]
    common = 0
    # A layer's own frame is never its owner: stop one short of the shortest scope.
    limit = min(len(scope) for scope in scopes) - 2
    while common < limit and len({scope[common + 1].name for scope in scopes}) == 1:
        common += 1
    while common > 0 and scopes[0][common].is_plain_container:
        common -= 1
    return common


def owner_of(*calls: LayerCall) -> ModuleFrame:
    return calls[0].scope[owner_frame_index(*calls)]


def relative_path(call: LayerCall, owner_index: int) -> str:
    return ".".join(frame.name for frame in call.scope[owner_index + 1:])


def fold_key(conv: LayerCall | None, bn: LayerCall) -> FoldKey:
    """The key of a fold (conv given) or of a lone BatchNorm verdict (conv None)."""
    calls = (conv, bn) if conv is not None else (bn,)
    index = owner_frame_index(*calls)
    conv_path = relative_path(conv, index) if conv is not None else ""
    return FoldKey(owner=bn.scope[index].class_name, conv=conv_path,
                   bn=relative_path(bn, index))
