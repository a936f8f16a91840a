"""Reading Meta's HighResCanopyHeight checkpoints (NOTES.md section 2) into the port, strictly.

Layouts:
- float (``SSLhuge_satellite.pth``): ``{'state_dict': {...}}`` with ``backbone.``/``decode_head.`` keys.
- compressed (``compressed_*.pth``): the state_dict itself, each Linear replaced by qint8 packed
  params; dequantised here to float (weight = (int8 - zero_point) * scale, bias as stored).
- plain state_dict of float tensors (what our own exporter's users may save).

Sizes come from tensor shapes; the heads count and the tapped blocks cannot, so they come from
flags or from the known variants (large: width 1024, 24 blocks; huge: width 1280, 32 blocks).
"""
from __future__ import annotations

import os
import pickle
import re
import types
from collections import OrderedDict
from typing import Iterable, Mapping, Optional, Sequence, Tuple

import torch

from .model import HrchConfig, HrchModel, build_hrch

PACKED = "._packed_params._packed_params"
# Known public variants: heads by width, taps by depth (NOTES.md section 1).
KNOWN_HEADS = {1024: 16, 1280: 20}
KNOWN_TAPS = {24: (4, 11, 17, 23), 32: (9, 16, 22, 29)}


class CheckpointError(ValueError):
    """The checkpoint does not fit the architecture: says which keys/shapes and why."""


def _shape(v) -> Tuple[int, ...]:
    return tuple(int(s) for s in v.shape)


# ---------------------------------------------------------------------------------------------
# Dequantisation

def dequantize_weight(w: torch.Tensor) -> torch.Tensor:
    """float32((int8 - zero_point) * scale), per tensor, bit-equal to torch's dequantize()."""
    if not w.is_quantized:
        return w.to(torch.float32)
    if w.qscheme() != torch.per_tensor_affine:
        raise CheckpointError(f"unsupported quantisation scheme {w.qscheme()} (expected per_tensor_affine)")
    scale = torch.tensor(w.q_scale(), dtype=torch.float32)
    return (w.int_repr().to(torch.float32) - float(w.q_zero_point())) * scale


def dequantize_state_dict(sd: Mapping[str, object]) -> "OrderedDict[str, torch.Tensor]":
    """Compressed layout -> float keys. Every packed Linear must come with its scale/zero_point/dtype
    entries; those are consumed, anything else is copied unchanged (and checked strictly later)."""
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    consumed = set()
    for key, value in sd.items():
        if key.endswith(PACKED):
            prefix = key[: -len(PACKED)]
            for extra in (".scale", ".zero_point", "._packed_params.dtype"):
                if prefix + extra not in sd:
                    raise CheckpointError(f"{prefix}: packed Linear without its '{prefix + extra}' entry")
                consumed.add(prefix + extra)
    for key, value in sd.items():
        if key in consumed:
            continue
        if key.endswith(PACKED):
            prefix = key[: -len(PACKED)]
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise CheckpointError(f"{key}: expected a (weight, bias) tuple, got {type(value).__name__}")
            weight, bias = value
            if not isinstance(weight, torch.Tensor) or not isinstance(bias, torch.Tensor):
                raise CheckpointError(f"{key}: quantised Linear needs a weight and a bias tensor")
            out[prefix + ".weight"] = dequantize_weight(weight)
            out[prefix + ".bias"] = bias.detach().to(torch.float32)
        elif isinstance(value, torch.Tensor):
            out[key] = value
        else:
            raise CheckpointError(f"{key}: unexpected entry of type {type(value).__name__}")
    return out


def is_compressed(sd: Mapping[str, object]) -> bool:
    return any(k.endswith(PACKED) for k in sd)


# ---------------------------------------------------------------------------------------------
# Reading files

# What a checkpoint pickle may really load (NOTES.md 2.3): tensors, parameters, quantised tensors,
# storages and dtype/qscheme constants. Nothing that can run code.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_qtensor"),
    ("torch", "FloatStorage"), ("torch", "LongStorage"), ("torch", "IntStorage"), ("torch", "HalfStorage"),
    ("torch", "DoubleStorage"), ("torch", "BFloat16Storage"), ("torch", "ByteStorage"), ("torch", "CharStorage"),
    ("torch", "BoolStorage"), ("torch", "QInt8Storage"), ("torch", "QUInt8Storage"), ("torch", "QInt32Storage"),
    ("torch", "qint8"), ("torch", "quint8"), ("torch", "qint32"), ("torch", "float32"), ("torch", "float16"),
    ("torch", "per_tensor_affine"), ("torch", "per_channel_affine"),
}


class _Opaque:
    """Stands in for any other global a checkpoint names (training hyper-parameters, Lightning
    objects...): it records its arguments and runs nothing, so the state_dict can still be read."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        return type(f"opaque {module}.{name}", (_Opaque,), {})


_restricted_pickle = types.SimpleNamespace(
    __name__="restricted_pickle",
    Unpickler=_RestrictedUnpickler,
    load=lambda f, **kw: _RestrictedUnpickler(f, **kw).load(),
)


def _load_restricted(path: str):
    """torch's own readers (zip, or the legacy format) driven by our unpickler. torch 1.13 ignores
    a pickle_module passed to torch.load (it resets it to pickle) and its weights_only allow-list
    lacks qint8, so the readers are called directly."""
    ser = torch.serialization
    if not all(hasattr(ser, n) for n in ("_open_file_like", "_is_zipfile", "_open_zipfile_reader", "_load", "_legacy_load")):
        raise CheckpointError(f"{path}: this torch version cannot read this checkpoint safely; try torch >= 2.0")
    with ser._open_file_like(path, "rb") as f:
        if not ser._is_zipfile(f):
            return ser._legacy_load(f, "cpu", _restricted_pickle, encoding="utf-8")
        with ser._open_zipfile_reader(f) as z:
            return ser._load(z, "cpu", _restricted_pickle, encoding="utf-8")


def read_checkpoint(path: str) -> Tuple["OrderedDict[str, torch.Tensor]", str]:
    """Loads a .pth on the CPU without executing pickled code and returns (float state_dict,
    layout name): torch's weights_only loader first, else our own unpickler, which builds tensors
    and replaces every other global by an inert placeholder."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # qint8 tensors (torch 1.13's allow-list lacks them) or extra objects beside the weights.
            obj = _load_restricted(path)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({err})") from err
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict, found {type(obj).__name__}")
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        sd, layout = obj["state_dict"], "float"
    else:
        sd, layout = obj, "state-dict"
    if is_compressed(sd):
        return dequantize_state_dict(sd), "compressed-qint8-dequantized"
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{path}: state_dict entry '{k}' is not a tensor but {type(v).__name__}")
    return OrderedDict((k, v) for k, v in sd.items()), layout


# ---------------------------------------------------------------------------------------------
# Sizes from shapes

def _indices(shapes: Iterable[str], pattern: str) -> set:
    rx = re.compile(pattern)
    return {int(m.group(1)) for k in shapes if (m := rx.match(k))}


def infer_config(
    shapes: Mapping[str, Sequence[int]],
    heads: Optional[int] = None,
    taps: Optional[Sequence[int]] = None,
) -> HrchConfig:
    """Reads every architecture size from state_dict shapes (float key names)."""
    def need(key: str) -> Tuple[int, ...]:
        if key not in shapes:
            near = next((k for k in shapes if k.endswith("." + key)), None)
            hint = f" (found '{near}': the keys carry a prefix Meta's loader would not accept either)" if near else ""
            raise CheckpointError(f"not an HRCH checkpoint: key '{key}' is missing{hint}")
        return tuple(int(s) for s in shapes[key])

    _, n_pos, width = need("backbone.pos_embed")
    patch = need("backbone.patch_embed.proj.weight")[2]
    grid = int(round((n_pos - 1) ** 0.5))
    if grid * grid + 1 != n_pos:
        raise CheckpointError(f"backbone.pos_embed has {n_pos} rows, not a square grid plus CLS")
    blocks = _indices(shapes, r"backbone\.blocks\.(\d+)\.")
    depth = max(blocks) + 1 if blocks else 0
    if blocks != set(range(depth)) or depth == 0:
        raise CheckpointError(f"backbone blocks are not numbered 0..N-1: {sorted(blocks)[:8]}...")
    hidden = need("backbone.blocks.0.mlp.fc1.weight")[0]
    post = tuple(need(f"decode_head.reassemble_blocks.projects.{i}.conv.weight")[0] for i in range(4))
    channels = need("decode_head.convs.0.conv.weight")[0]
    head_hidden = need("decode_head.conv_depth.head.0.weight")[0]
    head_features = need("decode_head.conv_depth.head.2.weight")[0]
    n_bins = need("decode_head.conv_depth.head.4.weight")[0]

    if heads is None:
        if width not in KNOWN_HEADS:
            raise CheckpointError(f"cannot infer the attention heads count for width {width}; pass --heads (known: {KNOWN_HEADS})")
        heads = KNOWN_HEADS[width]
    if taps is None:
        if depth not in KNOWN_TAPS:
            raise CheckpointError(f"cannot infer the tapped blocks for depth {depth}; pass --taps (known: {KNOWN_TAPS})")
        taps = KNOWN_TAPS[depth]
    if width % heads:
        raise CheckpointError(f"width {width} is not divisible by {heads} heads")
    return HrchConfig(
        embed_dim=width, depth=depth, num_heads=int(heads), out_indices=tuple(int(t) for t in taps),
        post_process_channels=post, channels=channels, n_bins=n_bins, patch_size=patch,
        img_size=grid * patch, mlp_ratio=hidden / width, head_hidden=head_hidden, head_features=head_features,
    )


def expected_shapes(cfg: HrchConfig) -> "OrderedDict[str, Tuple[int, ...]]":
    """Every state_dict key and shape of the port for cfg, built on the meta device (no memory)."""
    model = build_hrch(cfg, device="meta")
    return OrderedDict((k, _shape(v)) for k, v in model.state_dict().items())


def check_shapes(shapes: Mapping[str, Sequence[int]], cfg: HrchConfig) -> None:
    """Strict: every key used, none missing, every shape equal. Raises CheckpointError listing them."""
    want = expected_shapes(cfg)
    missing = [k for k in want if k not in shapes]
    extra = [k for k in shapes if k not in want]
    wrong = [f"{k}: {tuple(shapes[k])} != {want[k]}" for k in want if k in shapes and tuple(int(s) for s in shapes[k]) != want[k]]
    if missing or extra or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)):
            if items:
                parts.append(f"{len(items)} {label}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''}")
        raise CheckpointError("checkpoint does not match the HRCH architecture: " + "; ".join(parts))


def load_state_dict(sd: Mapping[str, torch.Tensor], heads: Optional[int] = None, taps: Optional[Sequence[int]] = None) -> Tuple[HrchModel, HrchConfig]:
    shapes = {k: _shape(v) for k, v in sd.items()}
    cfg = infer_config(shapes, heads, taps)
    check_shapes(shapes, cfg)
    model = build_hrch(cfg)
    model.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()}, strict=True)
    return model.eval(), cfg


def load_hrch(path: str, heads: Optional[int] = None, taps: Optional[Sequence[int]] = None) -> Tuple[HrchModel, HrchConfig, str]:
    """A Meta checkpoint file -> (eval-mode float32 model, its config, layout name)."""
    sd, layout = read_checkpoint(path)
    model, cfg = load_state_dict(sd, heads, taps)
    return model, cfg, layout
