"""DINOv2 self-supervised machinery: multi-crop, DINO/iBOT heads and losses, KoLeo, schedules.

Written from the DINOv2 paper (Oquab et al. 2023) for a small ViT on overhead imagery. The ViT
itself comes from models/hrch (one backbone implementation in the project).
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------- schedules ----------------


def cosine(start: float, end: float, step: int, total: int) -> float:
    """Cosine from `start` at step 0 to `end` at step `total` (clamped)."""
    t = min(max(step / max(total, 1), 0.0), 1.0)
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * t))


def warmup_cosine(peak: float, final: float, warmup: int, step: int, total: int) -> float:
    """Linear warmup from 0 to `peak`, then cosine down to `final`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return cosine(peak, final, step - warmup, max(total - warmup, 1))


# ---------------- multi-crop for overhead imagery ----------------


def _rot_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    # Overhead imagery has no "up": all 8 dihedral transforms are valid views of the same ground.
    k = int(torch.randint(0, 4, (1,), generator=g))
    x = torch.rot90(x, k, dims=(-2, -1))
    if torch.rand(1, generator=g) < 0.5:
        x = x.flip(-1)
    return x


def _colour_jitter(x: torch.Tensor, g: torch.Generator, p: float = 0.8) -> torch.Tensor:
    """x: 3xHxW in [0,1]. Brightness/contrast/saturation 0.4, hue shift 0.1 (DINOv2's values)."""
    if torch.rand(1, generator=g) >= p:
        return x
    b, c, s = (1 + (torch.rand(3, generator=g) * 0.8 - 0.4)).tolist()
    x = x * b
    mean = x.mean()
    x = (x - mean) * c + mean
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
    x = (x - grey) * s + grey
    hue = float(torch.rand(1, generator=g) * 0.2 - 0.1)
    if hue != 0.0:  # a hue rotation in YIQ space: cheap and close to torchvision's HSV shift
        yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        rgb = torch.linalg.inv(yiq)
        th = hue * 2 * math.pi
        rot = torch.tensor([[1, 0, 0], [0, math.cos(th), -math.sin(th)], [0, math.sin(th), math.cos(th)]])
        m = rgb @ rot @ yiq
        x = torch.einsum('ij,jhw->ihw', m, x)
    if torch.rand(1, generator=g) < 0.2:  # random greyscale
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0).expand(3, -1, -1)
    return x.clamp(0, 1)


def _blur(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    if torch.rand(1, generator=g) >= p:
        return x
    sigma = float(0.1 + torch.rand(1, generator=g) * 1.9)
    r = max(1, int(math.ceil(2 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = k / k.sum()
    y = F.pad(x.unsqueeze(0), (r, r, r, r), mode='reflect')
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    y = F.conv2d(y, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return y[0]


def _solarise(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    if torch.rand(1, generator=g) >= p:
        return x
    return torch.where(x >= 0.5, 1 - x, x)


def _resized_crop(img: torch.Tensor, out: int, scale: Tuple[float, float], g: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop with aspect ratio 3/4..4/3, as DINOv2 uses (img: 3xHxW)."""
    _, h, w = img.shape
    area = h * w
    for _ in range(10):
        a = area * float(scale[0] + torch.rand(1, generator=g) * (scale[1] - scale[0]))
        logr = math.log(3 / 4) + float(torch.rand(1, generator=g)) * (math.log(4 / 3) - math.log(3 / 4))
        r = math.exp(logr)
        cw, ch = int(round(math.sqrt(a * r))), int(round(math.sqrt(a / r)))
        if 0 < cw <= w and 0 < ch <= h:
            y = int(torch.randint(0, h - ch + 1, (1,), generator=g))
            x = int(torch.randint(0, w - cw + 1, (1,), generator=g))
            break
    else:
        ch, cw, y, x = h, w, 0, 0
    crop = img[:, y:y + ch, x:x + cw].unsqueeze(0)
    return F.interpolate(crop, size=(out, out), mode='bilinear', align_corners=False, antialias=True)[0]


class MultiCrop:
    """2 global crops + `n_local` local crops of one source image, DINOv2's augmentation recipe
    adapted to overhead imagery (dihedral rotations instead of just horizontal flips)."""

    def __init__(self, global_size: int = 128, local_size: int = 64, n_local: int = 4,
                 global_scale=(0.32, 1.0), local_scale=(0.05, 0.32), mean=None, std=None):
        self.global_size, self.local_size, self.n_local = global_size, local_size, n_local
        self.global_scale, self.local_scale = global_scale, local_scale
        self.mean = torch.tensor(mean if mean is not None else [0.420, 0.411, 0.296]).view(3, 1, 1)
        self.std = torch.tensor(std if std is not None else [0.213, 0.156, 0.143]).view(3, 1, 1)

    def _view(self, img, size, scale, g, blur_p, sol_p):
        v = _resized_crop(img, size, scale, g)
        v = _rot_flip(v, g)
        v = _colour_jitter(v, g)
        v = _blur(v, g, blur_p)
        v = _solarise(v, g, sol_p)
        return (v - self.mean) / self.std

    def __call__(self, img: torch.Tensor, g: torch.Generator) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """img: 3xHxW float in [0,1]. Returns (globals, locals), each a list of normalised 3xSxS."""
        globals_ = [self._view(img, self.global_size, self.global_scale, g, 1.0, 0.0),
                    self._view(img, self.global_size, self.global_scale, g, 0.1, 0.2)]
        locals_ = [self._view(img, self.local_size, self.local_scale, g, 0.5, 0.0) for _ in range(self.n_local)]
        return globals_, locals_


def block_masks(n: int, grid: int, g: torch.Generator, ratio=(0.1, 0.5), prob: float = 0.5) -> torch.Tensor:
    """iBOT masks: for each of `n` images with probability `prob`, mask a random fraction of the
    grid x grid patches in rectangular blocks. Returns bool n x grid*grid."""
    masks = torch.zeros(n, grid, grid, dtype=torch.bool)
    for i in range(n):
        if torch.rand(1, generator=g) >= prob:
            continue
        target = int(grid * grid * float(ratio[0] + torch.rand(1, generator=g) * (ratio[1] - ratio[0])))
        for _ in range(50):
            if int(masks[i].sum()) >= target:
                break
            a = max(1, int(torch.randint(1, max(2, target // 2 + 1), (1,), generator=g)))
            ar = math.exp(float(torch.rand(1, generator=g)) * 2 * math.log(3) - math.log(3))
            bh = max(1, min(grid, int(round(math.sqrt(a * ar)))))
            bw = max(1, min(grid, int(round(math.sqrt(a / ar)))))
            y = int(torch.randint(0, grid - bh + 1, (1,), generator=g))
            x = int(torch.randint(0, grid - bw + 1, (1,), generator=g))
            masks[i, y:y + bh, x:x + bw] = True
    return masks.view(n, -1)


# ---------------- heads and losses ----------------


class DINOHead(nn.Module):
    """MLP -> bottleneck -> L2-normalised -> weight-normalised prototypes (DINO / DINOv2)."""

    def __init__(self, in_dim: int, n_prototypes: int = 1024, hidden: int = 512, bottleneck: int = 128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, n_prototypes, bias=False))
        self.last_layer.weight_g.data.fill_(1.0)
        self.last_layer.weight_g.requires_grad = False
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        x = F.normalize(x, dim=-1, eps=1e-6 if x.dtype == torch.float16 else 1e-12)
        return self.last_layer(x)


@torch.no_grad()
def sinkhorn_knopp(teacher_logits: torch.Tensor, temp: float, iterations: int = 3) -> torch.Tensor:
    """Sinkhorn-Knopp centering (SwAV / DINOv2): soft assignments with equal prototype usage.
    teacher_logits: B x K. Returns B x K rows summing to 1."""
    q = torch.exp((teacher_logits.float() - teacher_logits.float().max()) / temp).t()  # K x B
    k, b = q.shape
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= b
    q *= b
    return q.t()


def dino_loss(student_logits: List[torch.Tensor], teacher_probs: List[torch.Tensor], student_temp: float = 0.1) -> torch.Tensor:
    """Cross-entropy between each teacher global view and every student view of another crop."""
    total, n = 0.0, 0
    for si, s in enumerate(student_logits):
        logp = F.log_softmax(s / student_temp, dim=-1)
        for ti, t in enumerate(teacher_probs):
            if si == ti:  # a global crop is not asked to predict itself
                continue
            total = total + torch.sum(-t * logp, dim=-1).mean()
            n += 1
    return total / max(n, 1)


def ibot_loss(student_patch_logits: torch.Tensor, teacher_patch_probs: torch.Tensor, student_temp: float = 0.1) -> torch.Tensor:
    """iBOT masked-patch loss, both arguments M x K for the masked patches only."""
    if student_patch_logits.shape[0] == 0:
        return student_patch_logits.sum() * 0.0
    logp = F.log_softmax(student_patch_logits / student_temp, dim=-1)
    return torch.sum(-teacher_patch_probs * logp, dim=-1).mean()


def koleo_loss(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """KoLeo regulariser (Sablayrolles et al.): -mean log distance to the nearest neighbour of the
    L2-normalised features within the batch, spreading features uniformly."""
    x = F.normalize(x.float(), dim=-1, eps=eps)
    with torch.no_grad():
        d = x @ x.t()
        d.fill_diagonal_(-2)
        nn_idx = d.argmax(dim=1)
    dist = torch.norm(x - x[nn_idx], dim=-1)
    return -torch.log(dist + eps).mean()


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    for pt, ps in zip(teacher.parameters(), student.parameters()):
        pt.mul_(momentum).add_(ps.detach(), alpha=1 - momentum)
