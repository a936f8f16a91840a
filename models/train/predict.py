"""Whole-raster prediction with a torch canopy model, tiled and blended the way the product runs
the ONNX (manifest tiling: 256 tiles, stride 192, Gaussian window), for evaluation in Python."""
from __future__ import annotations

import numpy as np
import torch

from models.train import data as D
from models.train.arch import metres


def blend_window(tile: int, sigma: float) -> np.ndarray:
    """Separable Gaussian weight centred on the tile (never zero, so every covered pixel counts)."""
    t = np.arange(tile) - (tile - 1) / 2
    g = np.exp(-t * t / (2 * sigma * sigma))
    return np.outer(g, g) + 1e-6


@torch.no_grad()
def predict_plot(model: torch.nn.Module, plot: D.Plot, tile: int = 256, stride: int = 192, batch: int = 4,
                 sigma: float = 64.0) -> np.ndarray:
    """Canopy height (m, float32 H x W) over `plot`; small plots are reflect-padded up to one tile."""
    h, w = plot.valid.shape
    rgb = D.pad_to(plot.rgb, tile, tile)
    H, W = rgb.shape[:2]
    acc = np.zeros((H, W), np.float64)
    wsum = np.full((H, W), 1e-12)
    win = blend_window(tile, sigma)
    origins = [(y, x) for y in D.tile_origins(H, tile, stride) for x in D.tile_origins(W, tile, stride)]
    model.eval()
    for i in range(0, len(origins), batch):
        chunk = origins[i:i + batch]
        x = np.stack([D.normalise(rgb[y:y + tile, x:x + tile]) for y, x in chunk])
        pred = metres(model, torch.from_numpy(x)).numpy()[:, 0]
        for (y, x), p in zip(chunk, pred):
            acc[y:y + tile, x:x + tile] += p[:tile, :tile] * win
            wsum[y:y + tile, x:x + tile] += win
    return (acc / wsum)[:h, :w].astype(np.float32)
