"""Stage 5 of models/train/train.py: measure the trained model beside the baselines, export the
ONNX with the port's exporter, and write the manifest's accuracy and models/<id>/EVAL.md."""
from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, List

import numpy as np
import torch

from models.train import data as D
from models.train import evaluate as E
from models.train.predict import predict_plot
from models.train.train_head import load_model

MODEL_NAME = 'forestmap-vit'
TILE, STRIDE, SIGMA = 128, 96, 32.0  # the tile the backbone was pretrained and the head trained on
# windows per model run: at 128 px this model runs 4% faster per tile at 4 than at 2 on a CPU, for
# about 90 MB more activation memory per session (bench/region; server/model/manifest.ts ModelTiling)
BATCH = 4
HELD_OUT_REAL = ['SJER_052', 'JERC_049']  # NEON plots with lidar CHMs: evaluation only on the CPU path


def shared_real_plots() -> List[D.Plot]:
    """The CPU path's real evaluation plots (never trained on there)."""
    neon = os.path.join(D.SHARED_DATA, 'neon')
    return [D.neon_plot(n, os.path.join(neon, f'{n}_CHM.tif')) for n in HELD_OUT_REAL
            if os.path.exists(os.path.join(neon, f'{n}_CHM.tif'))]


def evaluation_sets(eval_plots: List[D.Plot], real_plots: List[D.Plot], left_out: bool) -> Dict[str, List[D.Plot]]:
    sets = {'held-out synthetic scenes': eval_plots} if eval_plots else {}
    how = 'left out of the head that scores it' if left_out else 'held out'
    for p in real_plots:
        kind = 'lidar CHM' if p.name != 'autzen' else 'CHM from its point cloud'
        sets[f'{"NEON " if p.name != "autzen" else ""}{p.name} ({kind}, {how})'] = [p]
    if os.path.isdir(os.path.join(D.SHARED_DATA, 'kootenay')):
        sets['Kootenay (photogrammetric CHM, eval only)'] = [D.kootenay_plot()]
    return sets


class LeaveOneOut:
    """Predictors that never saw the plot they score: a plot named in `heads` gets the head
    trained without it, and the baselines are refitted without it; other plots get the final
    model and baselines fitted on every training plot."""

    def __init__(self, backbone: str, heads: Dict[str, str], train_plots: List[D.Plot], seed: int):
        self.backbone, self.heads, self.train_plots, self.seed = backbone, heads, train_plots, seed
        self.models: Dict[str, torch.nn.Module] = {}
        self.baselines: Dict[str, tuple] = {}
        self.cache: Dict[tuple, np.ndarray] = {}

    def key(self, p: D.Plot) -> str:
        return p.name if p.name in self.heads else 'final'

    def model(self, p: D.Plot) -> torch.nn.Module:
        return self.head_model(self.key(p))

    def head_model(self, k: str) -> torch.nn.Module:
        if k not in self.models:
            self.models[k] = load_model(self.backbone, self.heads[k]).eval()
        return self.models[k]

    def baseline(self, p: D.Plot):
        k = self.key(p)
        if k not in self.baselines:
            plots = [q for q in self.train_plots if k == 'final' or q.name != k]
            self.baselines[k] = (E.training_mean(plots), E.TextureRegression(plots, seed=self.seed))
        return self.baselines[k]

    def predictors(self) -> Dict[str, Callable[[D.Plot], np.ndarray]]:
        def memo(tag, fn):
            def f(p):
                if (tag, id(p)) not in self.cache:
                    self.cache[(tag, id(p))] = fn(p)
                return self.cache[(tag, id(p))]
            return f
        return {MODEL_NAME: memo('model', lambda p: predict_plot(self.model(p), p, TILE, STRIDE, sigma=SIGMA)),
                'baseline: training mean': lambda p: np.full(p.valid.shape, self.baseline(p)[0], np.float32),
                'baseline: colour + texture regression': memo('texture', lambda p: self.baseline(p)[1](p))}


def run(a, train_plots: List[D.Plot], eval_plots: List[D.Plot], real_plots: List[D.Plot], backbone: str,
        heads: Dict[str, str], probe_file: str, training: Dict) -> dict:
    """`heads`: 'final' -> the shipped head, plot name -> the head trained without that plot.
    `training`: how the weights were made, for the manifest and EVAL.md."""
    torch.set_num_threads(a.threads)
    loo = LeaveOneOut(backbone, heads, train_plots, a.seed)
    model = loo.head_model('final')
    head_info = torch.load(heads['final'], map_location='cpu')
    pre_info = torch.load(backbone, map_location='cpu')
    predictors = loo.predictors()
    left_out = any(k != 'final' for k in heads)
    results = {name: E.compare(plots, predictors) for name, plots in evaluation_sets(eval_plots, real_plots, left_out).items()}
    field = {}
    csv_path = E.field_csv()
    if csv_path:
        plots = {n: D.neon_plot(n) for n in ('BART_041', 'JERC_049', 'SJER_052')}
        field, per_plot = E.field_check(plots, predictors, csv_path)
        if field:
            results[f'NEON field-measured trees ({", ".join(f"{k} {v}" for k, v in per_plot.items())})'] = field

    # Speed of the torch model on this machine (one thread), for the record; bench/ measures the ONNX.
    x = torch.from_numpy(D.normalise(np.zeros((2, TILE, TILE, 3), np.uint8)))
    with torch.no_grad():
        model(x)
        t = time.time()
        model(x)
        sec_per_tile = (time.time() - t) / 2
    probe = json.load(open(probe_file))

    os.makedirs(a.model_dir, exist_ok=True)
    metrics = []
    for ds, res in results.items():
        s = res[MODEL_NAME]
        for k, unit in (('mae', 'm'), ('rmse', 'm'), ('bias', 'm'), ('r2', '')):
            metrics.append({'name': k.upper() if k != 'r2' else 'R2', 'value': round(s[k], 4), 'units': unit,
                            'dataset': ds, 'source': 'measured by models/train (EVAL.md)'})
    cfg = head_info['arch']
    fields = {
        'name': MODEL_NAME,
        # Cached results need no digest here: the server keys them by version + the ONNX sha256
        # that export_onnx records (server/model/manifest.ts cacheVersion).
        'version': training.get('version', '0.1.0'),
        'architecture': 'vit-dpt',
        'description': 'forestmap\'s own canopy height model: a ViT-Tiny-sized DINOv2-pretrained backbone (patch 16) '
                       f'with a DPT head of 256 height bins, trained on {training["device"]}. Small and fast; see EVAL.md for accuracy.',
        'license': 'Apache-2.0',
        'default': True,
        'provenance': {
            'source': 'trained here: models/train (python3 -m models.train.train)',
            'checkpointLayout': 'trained-here',
            'architectureConfig': cfg,
            'training': {
                'pretraining': {'recipe': 'DINOv2 (multi-crop 2x128 + 4x64, EMA teacher 0.994->1, DINO + iBOT heads '
                                          '1024 prototypes, Sinkhorn-Knopp, KoLeo 0.1, AdamW wd 0.04->0.2, warmup, '
                                          f'drop path {cfg.get("drop_path_rate")}, LayerScale 1e-5)',
                                'steps': pre_info['steps'], 'batch': pre_info['batch'], 'seed': pre_info['seed'],
                                'images': pre_info['images'], **training.get('pretraining', {})},
                'head': {'steps': head_info['steps'], 'seed': head_info['seed'], 'plots': head_info['plots'],
                         'tile': TILE, 'loss': 'soft-bin cross-entropy (sigma 2 m) + 0.1 L1 (m)', 'backbone': 'frozen',
                         **training.get('head', {})},
                'heldOut': training['heldOut'],
                'device': training['device'],
            },
        },
        'input': {'tileSize': TILE, 'patchSize': 16, 'sizeMultiple': 32, 'gsd': D.MODEL_GSD, 'channels': ['R', 'G', 'B'],
                  'scale': 1 / 255, 'mean': [round(float(v), 6) for v in D.MEAN], 'std': [round(float(v), 6) for v in D.STD],
                  'dynamicSize': True},
        # The graph outputs Meta's units (metres / 10), like the HRCH port: metres = relu(10 * y).
        'output': {'units': 'm', 'scale': 10.0, 'offset': 0.0, 'relu': True, 'bakedIn': False},
        'tiling': {'tileSize': TILE, 'stride': STRIDE, 'window': 'gaussian', 'sigma': SIGMA, 'batch': BATCH},
        'accuracy': {'metrics': metrics,
                     'notes': 'Pixel metrics at 0.5 m on held-out data (prediction - truth for bias). '
                              'Meta\'s HRCH models report MAE 2.5-3.2 m on NEON aerial plots.'},
    }
    from models.hrch.export import export_onnx
    export_onnx(model, a.model_dir, fields)
    onnx_bytes = os.path.getsize(os.path.join(a.model_dir, 'model.onnx'))
    write_eval_md(a, results, probe, fields, pre_info, head_info, onnx_bytes, sec_per_tile, training)
    out = {'results': results, 'probe': probe, 'onnx_bytes': onnx_bytes, 'torch_sec_per_tile': sec_per_tile}
    with open(os.path.join(a.work, 'results.json'), 'w') as fh:
        json.dump(out, fh, indent=1)
    return out


def write_eval_md(a, results, probe, fields, pre_info, head_info, onnx_bytes, sec_per_tile, training) -> None:
    tr = fields['provenance']['training']
    lines = [f'# {MODEL_NAME}: measured accuracy', '',
             'Everything below was measured by `/usr/bin/python3 -m models.train.train` (stage 5, `models/train/report.py`); '
             'nothing is copied from elsewhere. Pixel metrics at the model GSD (0.5 m); bias = prediction - truth. '
             'Baselines are scored on exactly the same pixels: the training mean height everywhere, and a per-pixel '
             'linear regression on colour and local texture (RGB, excess green, local mean/std of luminance over 3-31 px) '
             'fitted on the head\'s training pixels.', '',
             'Anchor for the reader: Meta\'s HighResCanopyHeight models (ViT-Huge, trained on GPUs) report MAE 2.5-3.2 m on NEON aerial plots.', '',
             '## Linear probe (frozen patch features -> per-patch mean height, ridge regression)', '',
             'Fitted on the training synthetic scenes, scored on held-out scenes (16 x 16 px patches = 8 m).', '',
             '| backbone | MAE (m) | RMSE (m) | R² | patches scored |', '|---|---|---|---|---|']
    for k in ('pretrained', 'random'):
        s = probe[k]
        lines.append(f'| {k} | {s["mae"]:.2f} | {s["rmse"]:.2f} | {s["r2"]:.3f} | {s["n"]} |')
    lines += ['', '## Full model (frozen pretrained backbone + trained DPT head)', '']
    for title, res in results.items():
        lines.append(E.format_table(title, res))
    lines += ['## Training', '',
              f'- Pretraining: {pre_info["steps"]} steps, batch {pre_info["batch"]}, seed {pre_info["seed"]}, '
              f'unlabelled images: {", ".join(pre_info["images"])} (NEON RGB and Autzen used as imagery only, no heights).',
              f'- Head: {head_info["steps"]} steps on the frozen backbone, seed {head_info["seed"]}, labelled plots: '
              f'{", ".join(head_info["plots"])}.',
              f'- Held out: {", ".join(tr["heldOut"])}. Kootenay is never trained on (GPL-3 data).',
              f'- Device: {training["device"]}. ONNX: {onnx_bytes / 1e6:.1f} MB float32 (no quantisation needed '
              f'under the 40 MB limit). torch forward on this machine: {sec_per_tile:.3f} s per {TILE} x {TILE} tile (1 thread).',
              '', '## What this run shows (read before trusting the numbers)', '',
              *[f'- {n}' for n in training['notes']],
              '- Real NEON plots are 40 m (80 px at 0.5 m), smaller than one tile: they are mirror-padded to one tile for prediction.',
              f'- Tile {TILE} px (64 m), stride {STRIDE}: the size the backbone was pretrained on and the head trained on.',
              '', f'Reproduce: {training["reproduce"]}', '']
    with open(os.path.join(a.model_dir, 'EVAL.md'), 'w') as fh:
        fh.write('\n'.join(lines))
