"""HighResCanopyHeight inference architecture: a DINOv2-style ViT backbone (patch 16) and a DPT
head with height bins, re-implemented from ../shared/fixtures/hrch/NOTES.md (no Meta code).
Module and parameter names follow Meta's state_dict so checkpoints load with strict=True.

Reuse (issue 6, models/train/ imports these):
- ``VisionTransformer(embed_dim, depth, num_heads, out_indices, patch_size=16, img_size=224,
  mlp_ratio=4.0, init_values=1.0, drop_path_rate=0.0, device=None)``
  * ``forward(x) -> list[(feature_map (B,C,h,w), cls (B,C))]``, one per tapped block (no final
    norm), the input the head consumes. Input is zero-padded bottom/right to a multiple of patch.
  * ``forward_tokens(x, masks=None) -> {'cls': (B,C), 'patches': (B,N,C)}`` after the final
    LayerNorm; ``masks`` (Bool (B, N)) replaces those patch tokens by ``mask_token`` before the
    position embedding is added, as DINOv2 does.
  * ``drop_path_rate`` is stochastic depth (linearly increasing per block; identity in eval);
    default 0 keeps the port exact. ``init_values`` initialises LayerScale.
- ``DPTHead(embed_dim, post_process_channels, channels=256, n_bins=256, head_hidden=None,
  head_features=32)``: taps -> (B,1,H',W') in Meta's units (metres / 10), H' = 32*ceil(H/32).
- ``HrchModel(backbone, decode_head)``: ``forward(x) = decode_head(backbone(x))``.
- Export any instance with ``models.hrch.export.export_onnx(model, out_dir, manifest_fields)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class HrchConfig:
    """Every size the architecture needs; read from a checkpoint's shapes or given as flags."""

    embed_dim: int
    depth: int
    num_heads: int
    out_indices: Tuple[int, ...]
    post_process_channels: Tuple[int, ...]
    channels: int = 256
    n_bins: int = 256
    patch_size: int = 16
    img_size: int = 224
    mlp_ratio: float = 4.0
    head_hidden: Optional[int] = None  # HeadDepth middle width; Meta: channels // 2
    head_features: int = 32
    min_depth: float = 0.001
    max_depth: float = 10.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_indices"] = list(self.out_indices)
        d["post_process_channels"] = list(self.post_process_channels)
        return d


# ---------------------------------------------------------------------------------------------
# Interpolation kernels (NOTES.md section 8), written as matrices so the ONNX graph needs no
# Resize op for the position embedding and any output size stays exact.

def _keys_cubic(d: Tensor, a: float = -0.75) -> Tensor:
    d = d.abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def bicubic_matrix(n_out, n_in: int, dtype: torch.dtype, device=None) -> Tensor:
    """(n_out, n_in) weights of a bicubic resize with align_corners=True (A = -0.75, clamped taps)."""
    dst = torch.arange(n_out, device=device).to(dtype)
    # (n_out - 1) clamped at 1: for n_out == 1 every dst is 0, so src is 0 whatever the scale.
    denom = torch.clamp(torch.as_tensor(n_out, device=device) - 1, min=1).to(dtype)
    src = dst * ((n_in - 1) / denom)
    i0 = torch.floor(src)
    t = src - i0
    cols = torch.arange(n_in, device=device)
    m = None
    for k, d in zip((-1, 0, 1, 2), (1 + t, t, 1 - t, 2 - t)):
        idx = torch.clamp(i0.to(torch.int64) + k, 0, n_in - 1)
        term = (idx.unsqueeze(1) == cols.unsqueeze(0)).to(dtype) * _keys_cubic(d).unsqueeze(1)
        m = term if m is None else m + term
    return m


def resize_bilinear(x: Tensor, size, align_corners: bool) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


# ---------------------------------------------------------------------------------------------
# Backbone

class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_values: float = 1.0, device=None):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values), device=device))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, device=None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True, device=device)
        self.proj = nn.Linear(dim, dim, bias=True, device=device)

    def forward(self, x: Tensor) -> Tensor:
        b, c = x.shape[0], x.shape[2]
        # Channels are [q | k | v], each head-major.
        qkv = self.qkv(x).reshape(b, -1, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, -1, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, device=None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, device=device)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, device=device)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, init_values: float, drop_path: float, device=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, device=device)
        self.attn = Attention(dim, num_heads, device=device)
        self.ls1 = LayerScale(dim, init_values, device=device)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, device=device)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), device=device)
        self.ls2 = LayerScale(dim, init_values, device=device)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_chans: int, dim: int, device=None):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size, device=device)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class VisionTransformer(nn.Module):
    """DINOv2-style ViT as HRCH uses it: learned 224-px position embedding, bicubic-resized."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        out_indices: Sequence[int],
        patch_size: int = 16,
        img_size: int = 224,
        mlp_ratio: float = 4.0,
        init_values: float = 1.0,
        drop_path_rate: float = 0.0,
        in_chans: int = 3,
        device=None,
    ):
        super().__init__()
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or min(out_indices) < 0 or max(out_indices) >= depth or list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f"out_indices {out_indices} must be increasing block indices in [0, {depth - 1}]")
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.out_indices = out_indices
        self.pos_grid = img_size // patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim, device=device))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid * self.pos_grid + 1, embed_dim, device=device))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim, device=device))
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, device=device)
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, init_values, r, device=device) for r in rates)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6, device=device)
        if device is None or torch.device(device).type != "meta":
            self.init_weights()

    def init_weights(self) -> None:
        """DINOv2's initialisation (only matters for training; checkpoints overwrite it)."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        nn.init.zeros_(self.mask_token)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def interpolate_pos_encoding(self, h, w, dtype: torch.dtype) -> Tensor:
        """(1, 1+h*w, C): CLS row unchanged, the grid bicubic-resized (align_corners) to h x w.
        At h = w = grid this is the identity, matching Meta's untouched 224 case."""
        pos = self.pos_embed.to(dtype)
        n = self.pos_grid
        grid = pos[0, 1:].reshape(n, n, -1).permute(2, 0, 1)  # (C, n, n)
        mh = bicubic_matrix(h, n, dtype, pos.device)
        mw = bicubic_matrix(w, n, dtype, pos.device)
        out = (mh @ grid) @ mw.transpose(0, 1)  # (C, h, w)
        out = out.permute(1, 2, 0).reshape(1, -1, pos.shape[2])
        return torch.cat((pos[:, :1], out), dim=1)

    def prepare_tokens(self, x: Tensor, masks: Optional[Tensor] = None):
        b, height, width = x.shape[0], x.shape[2], x.shape[3]
        p = self.patch_size
        # Bottom/right zero padding in normalised space (the mean colour), as Meta's AdaptivePadding.
        x = F.pad(x, (0, (p - width % p) % p, 0, (p - height % p) % p))
        t = self.patch_embed(x)
        h, w = t.shape[2], t.shape[3]
        t = t.flatten(2).transpose(1, 2)
        if masks is not None:
            t = torch.where(masks.unsqueeze(-1), self.mask_token.to(t.dtype).unsqueeze(0), t)
        t = torch.cat((self.cls_token.to(t.dtype).expand(b, -1, -1), t), dim=1)
        return t + self.interpolate_pos_encoding(h, w, t.dtype), h, w

    def forward_tokens(self, x: Tensor, masks: Optional[Tensor] = None) -> dict:
        t, _, _ = self.prepare_tokens(x, masks)
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t)
        return {"cls": t[:, 0], "patches": t[:, 1:]}

    def forward(self, x: Tensor) -> List[Tuple[Tensor, Tensor]]:
        t, h, w = self.prepare_tokens(x)
        taps = []
        # Blocks after the last tap cannot influence the output (huge: blocks 30, 31); skip them.
        for i, blk in enumerate(self.blocks[: self.out_indices[-1] + 1]):
            t = blk(t)
            if i in self.out_indices:
                feat = t[:, 1:].reshape(t.shape[0], h, w, -1).permute(0, 3, 1, 2)
                taps.append((feat, t[:, 0]))
        return taps


# ---------------------------------------------------------------------------------------------
# DPT head

class ConvModule(nn.Module):
    """A conv and an optional activation; the `.conv` level exists for Meta's key names."""

    def __init__(self, conv: nn.Module, act: Optional[nn.Module] = None):
        super().__init__()
        self.conv = conv
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return self.act(x) if self.act is not None else x


class ReassembleBlocks(nn.Module):
    def __init__(self, embed_dim: int, post_process_channels: Sequence[int], device=None):
        super().__init__()
        c, pc = embed_dim, list(post_process_channels)
        if len(pc) != 4:
            raise ValueError("DPT needs 4 post-process channel counts")
        self.projects = nn.ModuleList(ConvModule(nn.Conv2d(c, p, 1, device=device)) for p in pc)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(pc[0], pc[0], 4, stride=4, device=device),
            nn.ConvTranspose2d(pc[1], pc[1], 2, stride=2, device=device),
            nn.Identity(),
            nn.Conv2d(pc[3], pc[3], 3, stride=2, padding=1, device=device),
        ])
        self.readout_projects = nn.ModuleList(nn.Sequential(nn.Linear(2 * c, c, device=device), nn.GELU()) for _ in pc)

    def forward(self, taps: Sequence[Tuple[Tensor, Tensor]]) -> List[Tensor]:
        out = []
        for i, (feat, cls) in enumerate(taps):
            b, c, h, w = feat.shape
            tokens = feat.flatten(2).transpose(1, 2)
            # Readout 'project': [patch, cls] -> Linear -> GELU.
            tokens = self.readout_projects[i](torch.cat((tokens, cls.unsqueeze(1).expand_as(tokens)), dim=-1))
            x = tokens.transpose(1, 2).reshape(b, c, h, w)
            out.append(self.resize_layers[i](self.projects[i](x)))
        return out


class PreActResidualConvUnit(nn.Module):
    def __init__(self, channels: int, device=None):
        super().__init__()
        self.conv1 = ConvModule(nn.Conv2d(channels, channels, 3, padding=1, bias=False, device=device))
        self.conv2 = ConvModule(nn.Conv2d(channels, channels, 3, padding=1, bias=False, device=device))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FeatureFusionBlock(nn.Module):
    def __init__(self, channels: int, with_skip: bool, device=None):
        super().__init__()
        self.res_conv_unit1 = PreActResidualConvUnit(channels, device=device) if with_skip else None
        self.res_conv_unit2 = PreActResidualConvUnit(channels, device=device)
        self.project = ConvModule(nn.Conv2d(channels, channels, 1, device=device))

    def forward(self, x: Tensor, skip: Optional[Tensor] = None) -> Tensor:
        if skip is not None:
            # Odd token grids make the skip one pixel smaller; a same-size resize is the identity,
            # so the traced (ONNX) graph always resizes and stays valid for every input size.
            if torch.jit.is_tracing() or skip.shape[2:] != x.shape[2:]:
                skip = resize_bilinear(skip, x.shape[2:], align_corners=False)
            x = x + self.res_conv_unit1(skip)
        x = self.res_conv_unit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.project(x)


class Upsample2x(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class HeadDepth(nn.Module):
    def __init__(self, channels: int, n_bins: int, hidden: int, features: int, device=None):
        super().__init__()
        self.head = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1, device=device),
            Upsample2x(),
            nn.Conv2d(hidden, features, 3, padding=1, device=device),
            nn.ReLU(),
            nn.Conv2d(features, n_bins, 1, device=device),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(x)


class DPTHead(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        post_process_channels: Sequence[int],
        channels: int = 256,
        n_bins: int = 256,
        head_hidden: Optional[int] = None,
        head_features: int = 32,
        min_depth: float = 0.001,
        max_depth: float = 10.0,
        device=None,
    ):
        super().__init__()
        self.n_bins, self.min_depth, self.max_depth = n_bins, min_depth, max_depth
        self.reassemble_blocks = ReassembleBlocks(embed_dim, post_process_channels, device=device)
        self.convs = nn.ModuleList(ConvModule(nn.Conv2d(p, channels, 3, padding=1, bias=False, device=device)) for p in post_process_channels)
        self.fusion_blocks = nn.ModuleList(FeatureFusionBlock(channels, i > 0, device=device) for i in range(4))
        self.project = ConvModule(nn.Conv2d(channels, channels, 3, padding=1, device=device), nn.ReLU())
        self.conv_depth = HeadDepth(channels, n_bins, head_hidden or channels // 2, head_features, device=device)

    def logits(self, taps: Sequence[Tuple[Tensor, Tensor]]) -> Tensor:
        x = [conv(r) for conv, r in zip(self.convs, self.reassemble_blocks(taps))]
        out = self.fusion_blocks[0](x[-1])
        for i in range(1, 4):
            out = self.fusion_blocks[i](out, x[-(i + 1)])
        return self.conv_depth(self.project(out))

    def forward(self, taps: Sequence[Tuple[Tensor, Tensor]]) -> Tensor:
        logits = self.logits(taps)
        if self.fused_expectation:
            return self.expectation_fused(logits)
        bins = torch.linspace(self.min_depth, self.max_depth, self.n_bins, dtype=logits.dtype, device=logits.device)
        p = F.relu(logits) + 0.1
        p = p / p.sum(dim=1, keepdim=True)
        return (p * bins.reshape(1, -1, 1, 1)).sum(dim=1, keepdim=True)

    # Set by export_onnx: the same expectation as forward's, sum(p * bins) / sum(p) with
    # p = relu(logits) + 0.1, computed by one 1x1 convolution on relu(logits) (the +0.1 folded into
    # its bias). The literal form runs four full-resolution elementwise/reduce ops over all bins,
    # which dominate a small model on a CPU (and onnxruntime's ReduceSum is slow at batch 1); as a
    # convolution the bins never leave the convolution layout. Equal up to float rounding.
    fused_expectation = False
    # output channels padded so the convolution keeps onnxruntime's blocked (NCHWc) layout
    _FUSED_CHANNELS = 16

    def expectation_fused(self, logits: Tensor) -> Tensor:
        n = self.n_bins
        bins = torch.linspace(self.min_depth, self.max_depth, n, dtype=logits.dtype, device=logits.device)
        weight = torch.zeros(self._FUSED_CHANNELS, n, 1, 1, dtype=logits.dtype, device=logits.device)
        weight[0, :, 0, 0] = 1.0
        weight[1, :, 0, 0] = bins
        bias = torch.zeros(self._FUSED_CHANNELS, dtype=logits.dtype, device=logits.device)
        bias[0] = 0.1 * n
        bias[1] = 0.1 * bins.sum()
        s = F.conv2d(F.relu(logits), weight, bias)
        return s[:, 1:2] / s[:, 0:1]


class HrchModel(nn.Module):
    """Meta's SSLAE: decode_head(backbone(x)); output in tens of metres (metres = relu(10 * y))."""

    def __init__(self, backbone: VisionTransformer, decode_head: DPTHead):
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head

    def forward(self, x: Tensor) -> Tensor:
        return self.decode_head(self.backbone(x))


def build_hrch(cfg: HrchConfig, device=None, drop_path_rate: float = 0.0) -> HrchModel:
    backbone = VisionTransformer(
        cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.out_indices, patch_size=cfg.patch_size,
        img_size=cfg.img_size, mlp_ratio=cfg.mlp_ratio, drop_path_rate=drop_path_rate, device=device,
    )
    head = DPTHead(
        cfg.embed_dim, cfg.post_process_channels, cfg.channels, cfg.n_bins, cfg.head_hidden,
        cfg.head_features, cfg.min_depth, cfg.max_depth, device=device,
    )
    return HrchModel(backbone, head)
