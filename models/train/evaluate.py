"""Accuracy of the canopy height model beside two baselines on the same pixels.

Baselines: (1) the training mean height everywhere; (2) a per-pixel linear regression on colour
and local texture (RGB, excess green, local mean/std of luminance at 3-31 px), fitted on the
same training pixels as the head. Metrics: MAE, RMSE, bias (prediction - truth), R².
"""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from typing import Callable, Dict, List, Optional

import numpy as np
from scipy import ndimage

from models.train import data as D
from models.train.probe import scores

TEXTURE_WINDOWS = (3, 7, 15, 31)


def pixel_features(rgb: np.ndarray) -> np.ndarray:
    """H x W x F float32 colour + texture features of an RGB uint8 image."""
    f = rgb.astype(np.float32) / 255.0
    lum = f @ np.array([0.299, 0.587, 0.114], np.float32)
    feats = [f[..., 0], f[..., 1], f[..., 2], lum, 2 * f[..., 1] - f[..., 0] - f[..., 2]]
    for w in TEXTURE_WINDOWS:
        m = ndimage.uniform_filter(lum, w, mode='reflect')
        s = np.sqrt(np.maximum(ndimage.uniform_filter(lum * lum, w, mode='reflect') - m * m, 0))
        feats += [m, s]
    return np.stack(feats, -1)


class TextureRegression:
    """Least squares of height on pixel_features (with intercept), fitted on a pixel sample."""

    def __init__(self, plots: List[D.Plot], max_pixels: int = 300_000, seed: int = 0):
        rng = np.random.default_rng(seed)
        xs, ys = [], []
        per = max(1, max_pixels // max(1, len(plots)))
        for p in plots:
            f = pixel_features(p.rgb)[p.labelled]
            y = p.chm[p.labelled]
            idx = rng.choice(y.size, size=min(per, y.size), replace=False)
            xs.append(f[idx])
            ys.append(y[idx])
        x = np.concatenate(xs).astype(np.float64)
        y = np.concatenate(ys).astype(np.float64)
        a = np.c_[x, np.ones(len(x))]
        self.w = np.linalg.lstsq(a, y, rcond=None)[0]

    def __call__(self, plot: D.Plot) -> np.ndarray:
        f = pixel_features(plot.rgb).astype(np.float64)
        return np.clip(f @ self.w[:-1] + self.w[-1], 0, None).astype(np.float32)


def training_mean(plots: List[D.Plot]) -> float:
    return float(np.concatenate([p.chm[p.labelled] for p in plots]).mean())


def compare(plots: List[D.Plot], predictors: Dict[str, Callable[[D.Plot], np.ndarray]]) -> Dict[str, Dict]:
    """Pooled pixel metrics for each predictor over the labelled pixels of `plots`."""
    out = {}
    for name, fn in predictors.items():
        pred, truth = [], []
        for p in plots:
            pred.append(fn(p)[p.labelled])
            truth.append(p.chm[p.labelled])
        out[name] = scores(np.concatenate(pred).astype(np.float64), np.concatenate(truth).astype(np.float64))
    return out


# ---------- field-measured trees ----------

def field_trees(csv_path: str, plot_name: str) -> List[Dict]:
    """Canopy stems of one plot, latest survey per individual; understory stems dropped."""
    latest: Dict[str, Dict] = {}
    with open(csv_path) as fh:
        for r in csv.DictReader(fh):
            if r['plotID'] != plot_name or not r['height'] or not r['itcEasting']:
                continue
            if r['canopyPosition'] in ('Mid-canopy', 'Covered'):
                continue
            if 'Dead' in r['plantStatus'] or 'dead' in r['plantStatus']:
                continue
            key = r['individualID']
            if key not in latest or r['date'] >= latest[key]['date']:
                latest[key] = r
    return [{'x': float(r['itcEasting']), 'y': float(r['itcNorthing']), 'h': float(r['height'])} for r in latest.values()]


def heights_at_trees(chm: np.ndarray, plot: D.Plot, trees: List[Dict], radius_m: float = 1.5) -> np.ndarray:
    """Highest predicted height within radius of each stem (crown tops are rarely over the stem)."""
    gt = plot.geotransform
    h, w = chm.shape
    r = int(np.ceil(radius_m / abs(gt[1])))
    out = []
    for t in trees:
        col = int((t['x'] - gt[0]) / gt[1])
        row = int((t['y'] - gt[3]) / gt[5])
        if not (0 <= row < h and 0 <= col < w):
            out.append(np.nan)
            continue
        out.append(float(np.nanmax(chm[max(0, row - r):row + r + 1, max(0, col - r):col + r + 1])))
    return np.array(out)


def field_check(plots: Dict[str, D.Plot], predictors: Dict[str, Callable[[D.Plot], np.ndarray]], csv_path: str):
    truth, preds = [], defaultdict(list)
    per_plot = {}
    for name, plot in plots.items():
        trees = field_trees(csv_path, name)
        if not trees:
            continue
        maps = {k: fn(plot) for k, fn in predictors.items()}
        inside = ~np.isnan(heights_at_trees(maps[next(iter(maps))], plot, trees))
        per_plot[name] = int(inside.sum())
        truth.append(np.array([t['h'] for t in trees])[inside])
        for k, m in maps.items():
            preds[k].append(heights_at_trees(m, plot, trees)[inside])
    if not truth:
        return {}, per_plot
    y = np.concatenate(truth)
    return {k: scores(np.concatenate(v), y) for k, v in preds.items()}, per_plot


def format_table(title: str, res: Dict[str, Dict]) -> str:
    lines = [f'**{title}** (n = {next(iter(res.values()))["n"]:,})', '',
             '| predictor | MAE (m) | RMSE (m) | bias (m) | R² |', '|---|---|---|---|---|']
    for k, s in res.items():
        lines.append(f'| {k} | {s["mae"]:.2f} | {s["rmse"]:.2f} | {s["bias"]:+.2f} | {s["r2"]:.3f} |')
    return '\n'.join(lines) + '\n'


def field_csv() -> Optional[str]:
    p = os.path.join(D.SHARED_DATA, 'neon', 'field_heights.csv')
    return p if os.path.exists(p) else None
