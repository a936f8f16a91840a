"""Linear probe, as DINOv2 evaluates frozen features: ridge regression of per-patch mean canopy
height on the backbone's final (normalised) patch tokens, fitted on some plots and scored on
others, for the pretrained backbone and for the same architecture with random weights.

  /usr/bin/python3 -m models.train.probe --backbone var/train/pretrain/backbone.pt \
      --fit var/train/scenes/scene_512_1 ... --score var/train/scenes/scene_512_101 ...
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Tuple

import numpy as np
import torch

from models.train import data as D
from models.train.arch import ArchConfig, build_backbone, encode


@torch.no_grad()
def patch_features(backbone: torch.nn.Module, plots: List[D.Plot], tile: int = 256, patch: int = 16,
                   min_labelled: float = 0.9) -> Tuple[np.ndarray, np.ndarray]:
    """(features N x C, targets N) for every patch with at least `min_labelled` true heights."""
    feats, targets = [], []
    backbone.eval()
    for p in plots:
        h, w = p.valid.shape
        for y in range(0, max(1, h - tile + 1), tile) if h >= tile else [0]:
            for x in range(0, max(1, w - tile + 1), tile) if w >= tile else [0]:
                rgb = D.pad_to(p.rgb[y:y + tile, x:x + tile], tile, tile)
                lab = D.pad_to(p.labelled[y:y + tile, x:x + tile], tile, tile, 'constant')
                chm = D.pad_to(p.chm[y:y + tile, x:x + tile], tile, tile, 'constant')
                mean, frac = D.patch_means(np.nan_to_num(chm), lab.astype(bool), patch)
                _, tokens = encode(backbone, torch.from_numpy(D.normalise(rgb)[None]))
                g = tile // patch
                tok = tokens[0].reshape(g, g, -1).numpy()
                keep = frac >= min_labelled
                feats.append(tok[keep])
                targets.append(mean[keep])
    return np.concatenate(feats).astype(np.float64), np.concatenate(targets).astype(np.float64)


def fit_ridge(x: np.ndarray, y: np.ndarray, lam: float = 1.0):
    """Closed-form ridge on standardised features; returns a predict function."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    a = z.T @ z + lam * np.eye(z.shape[1])
    w = np.linalg.solve(a, z.T @ (y - y.mean()))
    b = y.mean()
    return lambda q: ((q - mu) / sd) @ w + b


def scores(pred: np.ndarray, truth: np.ndarray) -> Dict[str, float]:
    err = pred - truth
    ss_res = float(np.sum(err ** 2))
    ss_tot = float(np.sum((truth - truth.mean()) ** 2))
    return {'mae': float(np.abs(err).mean()), 'rmse': float(np.sqrt(np.mean(err ** 2))), 'bias': float(err.mean()),
            'r2': 1 - ss_res / ss_tot if ss_tot > 0 else float('nan'), 'n': int(truth.size)}


def probe(backbone: torch.nn.Module, fit: List[D.Plot], score: List[D.Plot], lam: float) -> Dict[str, float]:
    xf, yf = patch_features(backbone, fit)
    xs, ys = patch_features(backbone, score)
    predict = fit_ridge(xf, yf, lam)
    return {'fit_patches': int(yf.size), **scores(predict(xs), ys)}


def run(backbone_ckpt: str, fit: List[D.Plot], score: List[D.Plot], lam: float = 10.0, seed: int = 0) -> Dict[str, Dict]:
    torch.set_num_threads(1)
    st = torch.load(backbone_ckpt, map_location='cpu')
    cfg = ArchConfig(**st['arch'])
    pretrained = build_backbone(cfg, drop_path_rate=0.0)
    pretrained.load_state_dict(st['backbone'])
    torch.manual_seed(seed)
    random_ = build_backbone(cfg, drop_path_rate=0.0)  # same architecture, its own initialisation
    return {'pretrained': probe(pretrained, fit, score, lam), 'random': probe(random_, fit, score, lam)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--backbone', required=True)
    ap.add_argument('--fit', nargs='+', required=True, help='scene folders to fit on')
    ap.add_argument('--score', nargs='+', required=True, help='scene folders to score on')
    ap.add_argument('--lam', type=float, default=10.0)
    a = ap.parse_args(argv)
    res = run(a.backbone, [D.scene_plot(d, d) for d in a.fit], [D.scene_plot(d, d) for d in a.score], a.lam)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
