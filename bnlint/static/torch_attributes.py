"""The attributes torch.nn classes have as classes (`hasattr(nn.BatchNorm2d, "_abbr_")`),
generated from torch 2.13.0 by tests/static/test_torch_attributes.py (run it with
BNLINT_WRITE_TORCH_ATTRIBUTES=1 to rewrite this file). Instance attributes (weights, buffers,
constructor arguments) are not here: a class does not have them."""

from __future__ import annotations

# what every nn.Module class has
MODULE: frozenset[str] = frozenset(
    {
        "T_destination",
        "__annotations__",
        "__call__",
        "__class__",
        "__delattr__",
        "__dict__",
        "__dir__",
        "__doc__",
        "__eq__",
        "__format__",
        "__ge__",
        "__getattr__",
        "__getattribute__",
        "__getstate__",
        "__gt__",
        "__hash__",
        "__init__",
        "__init_subclass__",
        "__le__",
        "__lt__",
        "__module__",
        "__ne__",
        "__new__",
        "__reduce__",
        "__reduce_ex__",
        "__repr__",
        "__setattr__",
        "__setstate__",
        "__sizeof__",
        "__str__",
        "__subclasshook__",
        "__weakref__",
        "_apply",
        "_call_impl",
        "_compiled_call_impl",
        "_get_backward_hooks",
        "_get_backward_pre_hooks",
        "_get_name",
        "_load_from_state_dict",
        "_maybe_warn_non_full_backward_hook",
        "_named_members",
        "_register_load_state_dict_pre_hook",
        "_register_state_dict_hook",
        "_replicate_for_data_parallel",
        "_save_to_state_dict",
        "_slow_forward",
        "_version",
        "_wrapped_call_impl",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "type",
        "xpu",
        "zero_grad",
    }
)

# what each catalogued class has besides
EXTRA: dict[str, frozenset[str]] = {
    "torch.nn.AdaptiveAvgPool1d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AdaptiveAvgPool2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AdaptiveAvgPool3d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AdaptiveMaxPool1d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AdaptiveMaxPool2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AdaptiveMaxPool3d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AlphaDropout": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AvgPool1d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AvgPool2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.AvgPool3d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.BatchNorm1d": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
    "torch.nn.BatchNorm2d": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
    "torch.nn.BatchNorm3d": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
    "torch.nn.CELU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.ChannelShuffle": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Conv1d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "reset_parameters",
        }
    ),
    "torch.nn.Conv2d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "reset_parameters",
        }
    ),
    "torch.nn.Conv3d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "reset_parameters",
        }
    ),
    "torch.nn.ConvTranspose1d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "_output_padding",
            "reset_parameters",
        }
    ),
    "torch.nn.ConvTranspose2d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "_output_padding",
            "reset_parameters",
        }
    ),
    "torch.nn.ConvTranspose3d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "_output_padding",
            "reset_parameters",
        }
    ),
    "torch.nn.Dropout": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Dropout1d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Dropout2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Dropout3d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.ELU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.FeatureAlphaDropout": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Flatten": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.FractionalMaxPool2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.FractionalMaxPool3d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.GELU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.GLU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Hardshrink": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Hardsigmoid": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Hardswish": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Hardtanh": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Identity": frozenset(),
    "torch.nn.LPPool1d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.LPPool2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.LPPool3d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.LazyBatchNorm1d": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "_infer_parameters",
            "_lazy_load_hook",
            "cls_to_become",
            "has_uninitialized_params",
            "initialize_parameters",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
    "torch.nn.LazyBatchNorm2d": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "_infer_parameters",
            "_lazy_load_hook",
            "cls_to_become",
            "has_uninitialized_params",
            "initialize_parameters",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
    "torch.nn.LazyBatchNorm3d": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "_infer_parameters",
            "_lazy_load_hook",
            "cls_to_become",
            "has_uninitialized_params",
            "initialize_parameters",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
    "torch.nn.LazyConv1d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "_get_in_channels",
            "_get_num_spatial_dims",
            "_infer_parameters",
            "_lazy_load_hook",
            "cls_to_become",
            "has_uninitialized_params",
            "initialize_parameters",
            "reset_parameters",
        }
    ),
    "torch.nn.LazyConv2d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "_get_in_channels",
            "_get_num_spatial_dims",
            "_infer_parameters",
            "_lazy_load_hook",
            "cls_to_become",
            "has_uninitialized_params",
            "initialize_parameters",
            "reset_parameters",
        }
    ),
    "torch.nn.LazyConv3d": frozenset(
        {
            "__constants__",
            "_conv_forward",
            "_get_in_channels",
            "_get_num_spatial_dims",
            "_infer_parameters",
            "_lazy_load_hook",
            "cls_to_become",
            "has_uninitialized_params",
            "initialize_parameters",
            "reset_parameters",
        }
    ),
    "torch.nn.LazyLinear": frozenset(
        {
            "__constants__",
            "_infer_parameters",
            "_lazy_load_hook",
            "cls_to_become",
            "has_uninitialized_params",
            "initialize_parameters",
            "reset_parameters",
        }
    ),
    "torch.nn.LeakyReLU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Linear": frozenset(
        {
            "__constants__",
            "reset_parameters",
        }
    ),
    "torch.nn.LogSigmoid": frozenset(),
    "torch.nn.MaxPool1d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.MaxPool2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.MaxPool3d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Mish": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Module": frozenset(),
    "torch.nn.ModuleDict": frozenset(
        {
            "__contains__",
            "__delitem__",
            "__getitem__",
            "__iter__",
            "__len__",
            "__setitem__",
            "clear",
            "items",
            "keys",
            "pop",
            "update",
            "values",
        }
    ),
    "torch.nn.ModuleList": frozenset(
        {
            "__add__",
            "__delitem__",
            "__getitem__",
            "__iadd__",
            "__iter__",
            "__len__",
            "__setitem__",
            "_get_abs_string_index",
            "append",
            "extend",
            "insert",
            "pop",
        }
    ),
    "torch.nn.PReLU": frozenset(
        {
            "__constants__",
            "reset_parameters",
        }
    ),
    "torch.nn.PixelShuffle": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.PixelUnshuffle": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.RReLU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.ReLU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.ReLU6": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.SELU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Sequential": frozenset(
        {
            "__add__",
            "__delitem__",
            "__getitem__",
            "__iadd__",
            "__imul__",
            "__iter__",
            "__len__",
            "__mul__",
            "__rmul__",
            "__setitem__",
            "_get_item_by_idx",
            "append",
            "extend",
            "insert",
            "pop",
        }
    ),
    "torch.nn.SiLU": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Sigmoid": frozenset(),
    "torch.nn.Softplus": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Softshrink": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Softsign": frozenset(),
    "torch.nn.SyncBatchNorm": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "_check_non_zero_input_channels",
            "convert_sync_batchnorm",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
    "torch.nn.Tanh": frozenset(),
    "torch.nn.Tanhshrink": frozenset(),
    "torch.nn.Threshold": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.Unflatten": frozenset(
        {
            "__constants__",
            "_require_tuple_int",
        }
    ),
    "torch.nn.Upsample": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.UpsamplingBilinear2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.UpsamplingNearest2d": frozenset(
        {
            "__constants__",
        }
    ),
    "torch.nn.modules.batchnorm._BatchNorm": frozenset(
        {
            "__constants__",
            "_check_input_dim",
            "reset_parameters",
            "reset_running_stats",
        }
    ),
}
