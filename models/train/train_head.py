"""Train the DPT canopy-height head (256 bins) on the frozen pretrained backbone against true
heights (synthetic CHMs, lidar CHMs), as Meta trained theirs.

  /usr/bin/python3 -m models.train.train_head --backbone var/train/pretrain/backbone.pt \
      --scenes var/train/scenes/scene_512_1 ... --out var/train/head --steps 400

Checkpoints and resumes from <out>/ckpt.pt like pretrain_dino. --finetune-lr > 0 also trains the
backbone (optional short full fine-tuning; off by default).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.train import data as D
from models.train.arch import ArchConfig, build_canopy_model, metres
from models.train.dino import warmup_cosine
from models.train.pretrain_dino import batches, seed_everything


def labelled_plots(scene_dirs: List[str], real: List[str]) -> List[D.Plot]:
    plots = [D.scene_plot(d, os.path.basename(d)) for d in scene_dirs]
    for spec in real:  # NAME=RGB.tif:CHM.tif
        name, paths = spec.split('=', 1)
        rgb, chm = paths.split(':', 1)
        p = D.read_rgb(rgb)
        p.name = name
        p.chm = D.read_heights_on(p, chm, 'average')
        plots.append(p)
    return [p for p in plots if p.labelled.any()]


def packed_labelled_plots(pack_dir: str, exclude: List[str]) -> List[D.Plot]:
    """Synthetic training scenes and real pairs from a pack, less the plots held out by name."""
    plots = D.load_pack(pack_dir, 'train_scenes') + D.load_pack(pack_dir, 'real_pairs')
    unknown = set(exclude) - {p.name for p in plots}
    if unknown:
        raise ValueError(f'--exclude names no plot of the pack: {", ".join(sorted(unknown))}')
    return [p for p in plots if p.labelled.any() and p.name not in exclude]


class TileStream(torch.utils.data.IterableDataset):
    """Endless augmented (normalised RGB, heights, mask) tiles drawn in proportion to labelled
    area, one seeded stream per DataLoader worker (see pretrain_dino.SSLStream)."""

    def __init__(self, plots: List[D.Plot], prob: np.ndarray, tile: int, seed: int, step: int):
        self.plots, self.prob, self.tile, self.seed, self.step = plots, prob, tile, seed, step

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, 7919, self.step, info.id if info else 0])
        while True:
            rgb, chm, mask = augment(*D.random_tile(self.plots[int(rng.choice(len(self.plots), p=self.prob))],
                                                    self.tile, rng), rng)
            yield torch.from_numpy(D.normalise(rgb)), torch.from_numpy(chm), torch.from_numpy(mask)


def load_model(backbone_ckpt: str, head_ckpt: str = "") -> torch.nn.Module:
    st = torch.load(backbone_ckpt, map_location='cpu')
    cfg = ArchConfig(**st['arch'])
    model = build_canopy_model(cfg)
    model.backbone.load_state_dict(st['backbone'])
    if head_ckpt:
        state = torch.load(head_ckpt, map_location='cpu')['model']
        missing, unexpected = model.load_state_dict(state, strict=False)
        # A head trained on the frozen backbone is saved without it (backbone_ckpt has it); a
        # checkpoint that has backbone weights must have all of them.
        has_backbone = any(k.startswith('backbone.') for k in state)
        missing = [k for k in missing if has_backbone or not k.startswith('backbone.')]
        if missing or unexpected:
            raise ValueError(f'{head_ckpt} does not fit {backbone_ckpt}: missing {missing[:5]}, unexpected {unexpected[:5]}')
    return model


def init_bins_bias(head: torch.nn.Module, mean_height: float, spread_m: float = 8.0, peak: float = 4.0) -> None:
    """Start the 256-bin head near the training mean: a bump of bin logits around it. From the
    default init (all bins equal: 50 m everywhere) the first L1 steps push every pixel down at
    once, which drove the ReLUs before the bin layer dead and left a constant output."""
    # He initialisation throughout: PyTorch's default (kaiming_uniform a=sqrt(5)) shrinks the
    # signal by ~0.6 per layer, and after the ~12 layers of the DPT head the output barely
    # depends on the image (std 0.004 m at init), so L1 training only moved the constant.
    for m in head.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    last = head.conv_depth.head[-1]
    bins_m = torch.linspace(head.min_depth, head.max_depth, head.n_bins) * 10.0
    with torch.no_grad():
        last.weight.mul_(0.1)  # the bias bump decides the start; the image moves it from there
        last.bias.copy_(peak * torch.exp(-0.5 * ((bins_m - mean_height) / spread_m) ** 2))


def height_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                sigma_m: float = 2.0, l1_weight: float = 0.1) -> torch.Tensor:
    """Cross-entropy of the bin distribution against a Gaussian soft label around the true height,
    plus a small L1 on the expected height. L1 alone trains the 256-bin head very slowly: its
    gradient reaches each bin only through the weighted mean (measured: it barely fits one tile
    in 60 steps, while this loss does)."""
    head = model.decode_head
    # float32 from here: bfloat16 bins are 0.25-0.5 m apart at canopy heights
    logits = head.logits(model.backbone(x))[:, :, :y.shape[1], :y.shape[2]].float()
    p = F.relu(logits) + 0.1
    p = p / p.sum(dim=1, keepdim=True)
    bins = torch.linspace(head.min_depth, head.max_depth, head.n_bins, dtype=p.dtype, device=p.device).view(1, -1, 1, 1) * 10.0
    q = torch.exp(-0.5 * ((bins - y[:, None]) / sigma_m) ** 2)
    q = q / q.sum(dim=1, keepdim=True)
    ce = -(q * torch.log(p)).sum(dim=1)[mask]
    l1 = ((p * bins).sum(dim=1) - y).abs()[mask]
    if ce.numel() == 0:
        return logits.sum() * 0
    return ce.mean() + l1_weight * l1.mean()


def augment(rgb: np.ndarray, chm: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """Dihedral transforms plus a mild brightness/contrast change (sensor and sun differences)."""
    k = int(rng.integers(0, 4))
    rgb, chm, mask = (np.rot90(a, k, axes=(0, 1)) for a in (rgb, chm, mask))
    if rng.random() < 0.5:
        rgb, chm, mask = rgb[:, ::-1], chm[:, ::-1], mask[:, ::-1]
    f = rgb.astype(np.float32)
    f = (f - f.mean()) * rng.uniform(0.8, 1.2) + f.mean() * rng.uniform(0.85, 1.15)
    return np.clip(f, 0, 255).astype(np.uint8), np.ascontiguousarray(chm), np.ascontiguousarray(mask)


def train(args) -> dict:
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    os.makedirs(args.out, exist_ok=True)
    device = torch.device(args.device)
    model = load_model(args.backbone).to(device)
    model.backbone.requires_grad_(args.finetune_lr > 0)
    plots = packed_labelled_plots(args.pack, args.exclude) if args.pack else labelled_plots(args.scenes, args.real)
    prob = D.draw_probabilities([p.name for p in plots], [min(p.labelled.sum(), 4 * args.tile * args.tile) for p in plots],
                                args.real_share)
    mean_height = float(np.concatenate([p.chm[p.labelled] for p in plots]).mean())
    init_bins_bias(model.decode_head, mean_height)
    groups = [{'params': list(model.decode_head.parameters()), 'base_lr': args.lr}]
    if args.finetune_lr > 0:
        groups.append({'params': list(model.backbone.parameters()), 'base_lr': args.finetune_lr})
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=1e-4)

    step, log = 0, []
    ckpt = os.path.join(args.out, 'ckpt.pt')
    if os.path.exists(ckpt) and not args.fresh:
        st = torch.load(ckpt, map_location='cpu')
        model.load_state_dict(st['model'])
        opt.load_state_dict(st['opt'])
        step, log = st['step'], st['log']
        print(f'resumed at step {step}', flush=True)
    loader = batches(TileStream(plots, prob, args.tile, args.seed, step), args.batch, args.workers, device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp)

    def save():
        tmp = ckpt + '.tmp'
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'log': log,
                    'arch': model.cfg.to_dict(), 'args': vars(args)}, tmp)
        os.replace(tmp, ckpt)

    t0 = last = time.time()
    warm = max(1, args.steps // 20)
    while step < args.steps:
        if args.time_budget and time.time() - t0 > args.time_budget:
            print(f'time budget reached at step {step}', flush=True)
            break
        for g in opt.param_groups:
            g['lr'] = warmup_cosine(g['base_lr'], g['base_lr'] * 0.01, warm, step, args.steps)
        x, y, m = (t.to(device, non_blocking=True) for t in next(loader))
        model.decode_head.train()
        model.backbone.train(args.finetune_lr > 0)
        with amp:
            loss = height_loss(model, x, y, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        rec = {'step': step, 'loss': round(float(loss), 4), 'sec': round(time.time() - t0, 1)}
        log.append(rec)
        if step % args.log_every == 0 or step == args.steps:
            print(json.dumps(rec), flush=True)
        if time.time() - last > args.ckpt_every:
            save()
            last = time.time()
    save()
    model.cpu()
    # A frozen backbone is backbone_ckpt's: keep only the head's weights (MBs instead of tens of MBs).
    weights = {k: v for k, v in model.state_dict().items() if args.finetune_lr > 0 or not k.startswith('backbone.')}
    torch.save({'model': weights, 'arch': model.cfg.to_dict(), 'steps': step, 'seed': args.seed,
                'plots': [p.name for p in plots]}, os.path.join(args.out, 'model.pt'))
    return {'steps': step, 'plots': [p.name for p in plots]}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--backbone', default=os.path.join(D.VAR_TRAIN, 'pretrain', 'backbone.pt'))
    p.add_argument('--out', default=os.path.join(D.VAR_TRAIN, 'head'))
    p.add_argument('--scenes', nargs='*', default=[])
    p.add_argument('--real', nargs='*', default=[], help='NAME=RGB.tif:CHM.tif labelled real plots')
    p.add_argument('--pack', default='', help='a pack folder (models/train/pack.py) instead of --scenes and --real')
    p.add_argument('--real-share', type=float, default=0.3, help='fraction of draws from real pairs (when there are any)')
    p.add_argument('--exclude', nargs='*', default=[], help='plots of the pack to hold out (leave-one-out heads)')
    p.add_argument('--workers', type=int, default=0, help='DataLoader processes making the tiles (0: in the training loop)')
    p.add_argument('--amp', action='store_true', help='bfloat16 autocast (GPU)')
    p.add_argument('--steps', type=int, default=400)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--tile', type=int, default=128)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--finetune-lr', type=float, default=0.0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--time-budget', type=float, default=0)
    p.add_argument('--ckpt-every', type=float, default=60)
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--fresh', action='store_true')
    return p


if __name__ == '__main__':
    print(json.dumps(train(parser().parse_args())), flush=True)
    sys.exit(0)
