"""Self-supervised DINOv2 pretraining of the forestmap ViT on unlabelled overhead imagery.

  /usr/bin/python3 -m models.train.pretrain_dino --out var/train/pretrain --steps 600 --batch 16

Checkpoints every --ckpt-every seconds (atomic rename) and resumes from <out>/ckpt.pt, so a GPU
session limited to 10-minute calls can run it in slices (--device cuda, larger --steps/--batch).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import List

import numpy as np
import torch
import torch.nn as nn

from models.train import data as D
from models.train.arch import ArchConfig, build_backbone, encode
from models.train.dino import (DINOHead, MultiCrop, block_masks, cosine, dino_loss, ema_update, ibot_loss,
                               koleo_loss, sinkhorn_knopp, warmup_cosine)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batches(stream: torch.utils.data.IterableDataset, batch: int, workers: int, device: torch.device):
    """An endless iterator of batches of `stream`, made by `workers` processes (0: in this one)."""
    parallel = dict(num_workers=workers, persistent_workers=True, prefetch_factor=4) if workers > 0 else {}
    return iter(torch.utils.data.DataLoader(stream, batch_size=batch, pin_memory=device.type == 'cuda', **parallel))


class Model(nn.Module):
    def __init__(self, cfg: ArchConfig, n_prototypes: int, drop_path_rate: float):
        super().__init__()
        self.backbone = build_backbone(cfg, drop_path_rate)
        self.dino_head = DINOHead(cfg.embed_dim, n_prototypes)
        self.ibot_head = DINOHead(cfg.embed_dim, n_prototypes)


def ssl_losses(student: Model, teacher: Model, glob: torch.Tensor, loc: torch.Tensor, masks: torch.Tensor,
               t_temp: float, ibot_weight: float = 1.0, koleo_weight: float = 0.1):
    """DINOv2's objective for one batch. glob: (2B) global crops, crop-major; loc: (n_local*B)
    local crops, crop-major; masks: (2B, N) iBOT masks of the student's global crops."""
    n_local = loc.shape[0] * 2 // glob.shape[0]
    with torch.no_grad():
        t_cls, t_patch = encode(teacher.backbone, glob)
        t_cls_p = sinkhorn_knopp(teacher.dino_head(t_cls), t_temp)
        t_patch_p = sinkhorn_knopp(teacher.ibot_head(t_patch[masks]), t_temp) if masks.any() else None
    s_cls, s_patch = encode(student.backbone, glob, masks)
    l_cls, _ = encode(student.backbone, loc)
    s_logits = list(student.dino_head(s_cls).chunk(2)) + list(student.dino_head(l_cls).chunk(n_local))
    loss_dino = dino_loss(s_logits, list(t_cls_p.chunk(2)))
    loss_ibot = ibot_loss(student.ibot_head(s_patch[masks]), t_patch_p) if t_patch_p is not None else s_cls.sum() * 0
    loss_koleo = sum(koleo_loss(c) for c in s_cls.chunk(2))
    loss = loss_dino + ibot_weight * loss_ibot + koleo_weight * loss_koleo
    return loss, {'dino': float(loss_dino), 'ibot': float(loss_ibot), 'koleo': float(loss_koleo)}


def param_groups(model: nn.Module):
    """No weight decay on biases, norms, LayerScale gammas and tokens (DINOv2 convention)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith('token') or 'pos_embed' in name or '.gamma' in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{'params': decay, 'apply_wd': True}, {'params': no_decay, 'apply_wd': False}]


class ImagePool:
    """Unlabelled images (float 3xHxW in [0,1]) sampled in proportion to area (capped so one big
    orthophoto doesn't drown the small NEON plots)."""

    def __init__(self, plots: List[D.Plot], region: int, real_share: float = 0.4):
        self.images = [torch.from_numpy(p.rgb).permute(2, 0, 1).float() / 255.0 for p in plots]
        self.names = [p.name for p in plots]
        self.valid = [p.valid for p in plots]
        area = [min(p.rgb.shape[0] * p.rgb.shape[1], 4 * region * region) for p in plots]
        self.prob = D.draw_probabilities(self.names, area, real_share)
        self.region = region

    def sample(self, rng: np.random.Generator) -> torch.Tensor:
        i = int(rng.choice(len(self.images), p=self.prob))
        img, valid = self.images[i], self.valid[i]
        _, h, w = img.shape
        r = self.region
        for _ in range(10):
            y = int(rng.integers(0, max(1, h - r + 1)))
            x = int(rng.integers(0, max(1, w - r + 1)))
            if valid[y:y + r, x:x + r].mean() > 0.9:
                break
        return img[:, y:y + r, x:x + r]


def unlabelled_plots(scene_dirs: List[str]) -> List[D.Plot]:
    plots = []
    for d in scene_dirs:
        p = D.read_rgb(os.path.join(d, 'image.tif'))
        p.name = 'scene_' + os.path.basename(d)
        plots.append(p)
    neon = os.path.join(D.SHARED_DATA, 'neon')
    if os.path.isdir(neon):
        # NEON RGB plots: imagery only, no heights, so pretraining on them leaks no labels.
        for name in ['SJER_052', 'JERC_049', 'BART_041', 'OSBS_95_competition', '2018_SJER_3_252000_4107000_image_477']:
            plots.append(D.neon_plot(name))
        plots.append(D.autzen_plot())
    return plots


def packed_unlabelled_plots(pack_dir: str) -> List[D.Plot]:
    """The same images from a pack (models/train/pack.py), heights dropped: pretraining sees none."""
    plots = []
    for p in D.load_pack(pack_dir, 'train_scenes'):
        p.name, p.chm = 'scene_' + p.name, None
        plots.append(p)
    for role in ('imagery', 'real_pairs'):
        for p in D.load_pack(pack_dir, role):
            p.chm = None
            plots.append(p)
    return plots


class SSLStream(torch.utils.data.IterableDataset):
    """Endless (global crops, local crops, iBOT masks) per image, so DataLoader workers can make
    the views while the accelerator trains. Worker w of W draws from its own seeded stream; the
    DataLoader takes workers in turn, so the batches are the same on every run with the same W."""

    def __init__(self, pool: ImagePool, crops: MultiCrop, grid: int, seed: int, step: int):
        self.pool, self.crops, self.grid, self.seed, self.step = pool, crops, grid, seed, step

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        torch.set_num_threads(1)
        rng = np.random.default_rng([self.seed, self.step, wid])
        gen = torch.Generator().manual_seed(self.seed * 1000 + self.step * 64 + wid)
        while True:
            g, loc = self.crops(self.pool.sample(rng), gen)
            yield torch.stack(g), torch.stack(loc), block_masks(2, self.grid, gen)


def train(args) -> dict:
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    os.makedirs(args.out, exist_ok=True)
    cfg = ArchConfig(**json.loads(args.arch)) if args.arch else ArchConfig()
    device = torch.device(args.device)

    plots = packed_unlabelled_plots(args.pack) if args.pack else unlabelled_plots(args.scenes)
    pool = ImagePool(plots, args.region, args.real_share)
    crops = MultiCrop(args.global_size, args.local_size, args.n_local)
    student = Model(cfg, args.prototypes, cfg.drop_path_rate).to(device)
    # weight_norm parameters can't be deep-copied: build a twin and copy the weights in.
    teacher = Model(cfg, args.prototypes, 0.0).to(device)
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad = False
    teacher.eval()  # no stochastic depth in the teacher
    opt = torch.optim.AdamW(param_groups(student), lr=0.0, betas=(0.9, 0.999))

    step, log = 0, []
    ckpt = os.path.join(args.out, 'ckpt.pt')
    if os.path.exists(ckpt) and not args.fresh:
        st = torch.load(ckpt, map_location='cpu')
        student.load_state_dict(st['student'])
        teacher.load_state_dict(st['teacher'])
        opt.load_state_dict(st['opt'])
        step, log = st['step'], st['log']
        torch.set_rng_state(st['torch_rng'])
        print(f'resumed at step {step}', flush=True)
    # The data stream restarts deterministically from the step it resumes at.
    loader = batches(SSLStream(pool, crops, args.global_size // cfg.patch_size, args.seed, step), args.batch, args.workers, device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp)

    total = args.steps
    warmup = max(1, int(0.1 * total))
    t0, last_ckpt = time.time(), time.time()

    def save():
        tmp = ckpt + '.tmp'
        torch.save({'student': student.state_dict(), 'teacher': teacher.state_dict(), 'opt': opt.state_dict(),
                    'step': step, 'log': log, 'torch_rng': torch.get_rng_state(), 'arch': cfg.to_dict(),
                    'args': vars(args)}, tmp)
        os.replace(tmp, ckpt)

    while step < total:
        if args.time_budget and time.time() - t0 > args.time_budget:
            print(f'time budget reached at step {step}', flush=True)
            break
        lr = warmup_cosine(args.lr, args.min_lr, warmup, step, total)
        wd = cosine(0.04, 0.2, step, total)
        mom = cosine(0.994, 1.0, step, total)
        t_temp = 0.04 + (0.07 - 0.04) * min(1.0, step / max(1, int(0.3 * total)))
        for g in opt.param_groups:
            g['lr'] = lr
            g['weight_decay'] = wd if g['apply_wd'] else 0.0

        glob, loc, masks = next(loader)  # B x 2 x ..., B x n_local x ..., B x 2 x N
        glob = glob.transpose(0, 1).flatten(0, 1).to(device, non_blocking=True)  # (2B) crop-major
        loc = loc.transpose(0, 1).flatten(0, 1).to(device, non_blocking=True)
        masks = masks.transpose(0, 1).flatten(0, 1).to(device, non_blocking=True)

        with amp:
            loss, parts = ssl_losses(student, teacher, glob, loc, masks, t_temp, args.ibot_weight, args.koleo_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step < args.freeze_last_layer:  # DINO: keep prototypes fixed while the features settle
            for h in (student.dino_head, student.ibot_head):
                for p in h.last_layer.parameters():
                    p.grad = None
        nn.utils.clip_grad_norm_(student.parameters(), 3.0)
        opt.step()
        ema_update(teacher, student, mom)
        step += 1

        rec = {'step': step, 'loss': float(loss), **parts, 'lr': lr, 'wd': wd, 'momentum': mom, 'sec': round(time.time() - t0, 1)}
        log.append(rec)
        if step % args.log_every == 0 or step == total:
            print(json.dumps(rec), flush=True)
        if time.time() - last_ckpt > args.ckpt_every:
            save()
            last_ckpt = time.time()
    save()
    # The teacher's backbone is the pretrained model (DINOv2 evaluates and ships the EMA teacher).
    torch.save({'backbone': teacher.backbone.state_dict(), 'arch': cfg.to_dict(), 'steps': step,
                'seed': args.seed, 'batch': args.batch, 'images': pool.names}, os.path.join(args.out, 'backbone.pt'))
    return {'steps': step, 'images': pool.names}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--out', default=os.path.join(D.VAR_TRAIN, 'pretrain'))
    p.add_argument('--scenes', nargs='*', default=[], help='synthetic scene folders (image.tif)')
    p.add_argument('--pack', default='', help='a pack folder (models/train/pack.py) instead of --scenes and ../shared')
    p.add_argument('--workers', type=int, default=0, help='DataLoader processes making the crops (0: in the training loop)')
    p.add_argument('--amp', action='store_true', help='bfloat16 autocast (GPU)')
    p.add_argument('--steps', type=int, default=600)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--min-lr', type=float, default=1e-6)
    p.add_argument('--prototypes', type=int, default=1024)
    p.add_argument('--global-size', type=int, default=128)
    p.add_argument('--local-size', type=int, default=64)
    p.add_argument('--n-local', type=int, default=4)
    p.add_argument('--region', type=int, default=192, help='source region (px at 0.5 m) the crops come from')
    p.add_argument('--real-share', type=float, default=0.4, help='fraction of draws from real imagery')
    p.add_argument('--ibot-weight', type=float, default=1.0)
    p.add_argument('--koleo-weight', type=float, default=0.1)
    p.add_argument('--freeze-last-layer', type=int, default=30)
    p.add_argument('--arch', default='', help='JSON overrides of ArchConfig')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--time-budget', type=float, default=0, help='stop (and save) after this many seconds')
    p.add_argument('--ckpt-every', type=float, default=60)
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--fresh', action='store_true', help='ignore an existing checkpoint')
    return p


if __name__ == '__main__':
    print(json.dumps(train(parser().parse_args())), flush=True)
    sys.exit(0)
