"""The forestmap-vit architecture: the project's one ViT + DPT implementation (models/hrch) at a
small size. This module only chooses sizes and adapts the backbone's token API for training."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

import torch
import torch.nn as nn


@dataclass
class ArchConfig:
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    patch_size: int = 16
    out_indices: List[int] = field(default_factory=lambda: [1, 2, 4, 5])
    post_process_channels: List[int] = field(default_factory=lambda: [24, 48, 96, 192])
    head_channels: int = 32
    n_bins: int = 256
    init_values: float = 1e-5  # LayerScale init, as DINOv2
    drop_path_rate: float = 0.1

    def to_dict(self):
        return asdict(self)


def build_backbone(cfg: ArchConfig, drop_path_rate: Optional[float] = None) -> nn.Module:
    from models.hrch.model import VisionTransformer

    return VisionTransformer(cfg.embed_dim, cfg.depth, cfg.num_heads, tuple(cfg.out_indices), patch_size=cfg.patch_size,
                             init_values=cfg.init_values,
                             drop_path_rate=cfg.drop_path_rate if drop_path_rate is None else drop_path_rate)


def build_head(cfg: ArchConfig) -> nn.Module:
    from models.hrch.model import DPTHead

    return DPTHead(cfg.embed_dim, list(cfg.post_process_channels), channels=cfg.head_channels, n_bins=cfg.n_bins)


def build_canopy_model(cfg: ArchConfig) -> nn.Module:
    """Backbone + DPT head as the port's HrchModel (state_dict keys backbone.*, decode_head.*),
    so the port's exporter and the ONNX contract apply unchanged. Output: metres / 10."""
    from models.hrch.model import HrchModel

    model = HrchModel(build_backbone(cfg, drop_path_rate=0.0), build_head(cfg))
    model.cfg = cfg
    return model


def metres(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Canopy height in metres, B x 1 x H' x W': relu(10 * y), as Meta's inference does."""
    return torch.relu(10.0 * model(x))


def encode(backbone: nn.Module, x: torch.Tensor, masks: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(cls B x C, patches B x N x C) after the final LayerNorm, as DINOv2's losses use them."""
    t = backbone.forward_tokens(x, masks=masks)
    return t['cls'], t['patches']
