"""Training data for the forestmap canopy height model: rasters resampled to the model GSD.

Everything here returns plain numpy arrays (RGB uint8 HxWx3, heights float32 HxW, validity bool
HxW) on one 0.5 m grid, so the training steps never touch GDAL. Reading goes through osgeo.gdal
because it copes with every input we have (COG scenes, NEON plots with out-of-order tags, a JPEG
with a world file in Oregon feet).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence

import numpy as np

MODEL_GSD = 0.5  # m/px, the GSD the shipped model expects (Meta's is ~0.5-0.6 m)
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SHARED_DATA = os.path.abspath(os.path.join(REPO_ROOT, '..', 'shared', 'data'))
VAR_TRAIN = os.path.join(REPO_ROOT, 'var', 'train')


@dataclass
class Plot:
    """One raster at MODEL_GSD: imagery, optional true heights, and where it sits on the map."""

    name: str
    rgb: np.ndarray  # uint8 H x W x 3
    valid: np.ndarray  # bool H x W: imagery present
    chm: Optional[np.ndarray] = None  # float32 H x W metres, NaN where unknown
    geotransform: Sequence[float] = field(default_factory=lambda: (0.0, MODEL_GSD, 0.0, 0.0, 0.0, -MODEL_GSD))
    wkt: str = ''
    source: str = ''

    @property
    def labelled(self) -> np.ndarray:
        if self.chm is None:
            return np.zeros(self.valid.shape, bool)
        return self.valid & np.isfinite(self.chm)


def _gdal():
    from osgeo import gdal  # imported lazily so unit tests of pure helpers need no GDAL

    gdal.UseExceptions()
    gdal.SetConfigOption('CPL_LOG', '/dev/null')  # NEON files with out-of-order tags warn loudly
    return gdal


def read_rgb(path: str, gsd: float = MODEL_GSD, srs: Optional[str] = None) -> Plot:
    """Read an RGB raster resampled (area average) to `gsd`; nodata/black-outside becomes invalid."""
    gdal = _gdal()
    opts = dict(xRes=gsd, yRes=gsd, resampleAlg='average', format='MEM', outputType=gdal.GDT_Byte)
    if srs:
        opts['srcSRS'] = srs
        opts['dstSRS'] = srs
    ds = gdal.Warp('', path, **opts)
    arr = ds.ReadAsArray()[:3].transpose(1, 2, 0).copy()
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    valid = np.ones(arr.shape[:2], bool)
    if nodata is not None:
        valid &= ~np.all(arr == nodata, axis=2)
    valid &= ~np.all(arr == 0, axis=2)  # warping outside the source fills zeros
    name = os.path.splitext(os.path.basename(path))[0]
    return Plot(name=name, rgb=arr, valid=valid, geotransform=ds.GetGeoTransform(), wkt=ds.GetProjection(), source=path)


def read_heights_on(plot: Plot, chm_path: str, resample: str = 'bilinear') -> np.ndarray:
    """Warp a height raster onto `plot`'s grid by map coordinates (origins differ: NEON's by ~0.4 m)."""
    gdal = _gdal()
    gt = plot.geotransform
    h, w = plot.valid.shape
    bounds = (gt[0], gt[3] + gt[5] * h, gt[0] + gt[1] * w, gt[3])
    src = gdal.Open(chm_path)
    nodata = src.GetRasterBand(1).GetNoDataValue()
    ds = gdal.Warp('', src, format='MEM', outputBounds=bounds, width=w, height=h, resampleAlg=resample,
                   dstSRS=plot.wkt or None, outputType=gdal.GDT_Float32, dstNodata=np.nan,
                   srcNodata=nodata)
    chm = ds.ReadAsArray().astype(np.float32)
    chm[~np.isfinite(chm)] = np.nan
    chm[chm < -1] = np.nan  # stray nodata flavours (-9999, -1.7e308)
    return np.clip(chm, 0, None)


def scene_plot(scene_dir: str, name: str) -> Plot:
    """A synthetic scene written by `forestmap scene`: image.tif + chm.tif on the same grid."""
    plot = read_rgb(os.path.join(scene_dir, 'image.tif'))
    plot.name = name
    plot.chm = read_heights_on(plot, os.path.join(scene_dir, 'chm.tif'), 'average')
    return plot


SCENE_PRESETS = ('mixed', 'conifer', 'broadleaf', 'sparse')


def make_scenes(out_root: str, seeds: Iterable[int], size: int, gsd: float = MODEL_GSD) -> List[str]:
    """Generate synthetic scenes with the project CLI (deterministic per seed, presets taken in
    turn for variety); reuse existing ones."""
    dirs = []
    for seed in seeds:
        preset = SCENE_PRESETS[seed % len(SCENE_PRESETS)]
        d = os.path.join(out_root, f'scene_{size}_{seed}_{preset}')
        if not os.path.exists(os.path.join(d, 'chm.tif')):
            os.makedirs(d, exist_ok=True)
            subprocess.run(['node', os.path.join(REPO_ROOT, 'bin', 'forestmap.js'), 'scene', '--out', d,
                            '--width', str(size), '--height', str(size), '--gsd', str(gsd), '--seed', str(seed),
                            '--preset', preset, '--no-crowns', '--quiet'],
                           check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        dirs.append(d)
    return dirs


def neon_plot(name: str, chm_path: Optional[str] = None) -> Plot:
    plot = read_rgb(os.path.join(SHARED_DATA, 'neon', f'{name}.tif'))
    if chm_path and os.path.exists(chm_path):
        plot.chm = read_heights_on(plot, chm_path, 'bilinear')
    return plot


def autzen_plot() -> Plot:
    """Autzen orthophoto: JPEG + world file in Oregon Lambert feet (EPSG:2994), no .prj."""
    return read_rgb(os.path.join(SHARED_DATA, 'autzen', 'autzen.jpg'), gsd=MODEL_GSD / 0.3048, srs='EPSG:2994')


def kootenay_plot() -> Plot:
    """Kootenay (evaluation only: GPL-3 data must not train the shipped model)."""
    root = os.path.join(SHARED_DATA, 'kootenay')
    plot = read_rgb(os.path.join(root, 'kootenayOrtho.tif'))
    plot.chm = read_heights_on(plot, os.path.join(root, 'kootenayCHM.tif'), 'average')
    return plot


# ---------- pure helpers (unit-tested) ----------

def draw_probabilities(names: Sequence[str], areas: Sequence[float], real_share: float) -> np.ndarray:
    """How often to draw each plot: in proportion to area, except that real plots (names not
    starting with 'scene_') get `real_share` of the draws together, whatever their area: they are
    the domain the model is for, synthetic scenes are the bulk."""
    area = np.asarray(areas, float)
    real = np.array([not n.startswith('scene_') for n in names])
    if real.any() and (~real).any():
        area = np.where(real, area / area[real].sum() * real_share, area / area[~real].sum() * (1 - real_share))
    return area / area.sum()


def pad_to(arr: np.ndarray, size_h: int, size_w: int, mode: str = 'reflect') -> np.ndarray:
    """Pad the first two axes at the bottom/right up to at least (size_h, size_w)."""
    ph, pw = max(0, size_h - arr.shape[0]), max(0, size_w - arr.shape[1])
    if ph == 0 and pw == 0:
        return arr
    widths = [(0, ph), (0, pw)] + [(0, 0)] * (arr.ndim - 2)
    if mode == 'reflect' and (ph >= arr.shape[0] or pw >= arr.shape[1]):
        mode = 'symmetric' if (ph <= arr.shape[0] and pw <= arr.shape[1]) else 'wrap'
    if mode == 'constant':
        return np.pad(arr, widths, mode='constant', constant_values=np.nan if arr.dtype.kind == 'f' else 0)
    return np.pad(arr, widths, mode=mode)


def tile_origins(length: int, tile: int, stride: int) -> List[int]:
    """Origins covering [0, length) with tiles of `tile` px, the last one flush with the end."""
    if length <= tile:
        return [0]
    out = list(range(0, length - tile + 1, stride))
    if out[-1] + tile < length:
        out.append(length - tile)
    return out


def random_tile(plot: Plot, tile: int, rng: np.random.Generator, min_valid: float = 0.5):
    """A random tile (rgb, chm, mask) from `plot`, padded when the plot is smaller than the tile."""
    h, w = plot.valid.shape
    for _ in range(20):
        y = int(rng.integers(0, max(1, h - tile + 1)))
        x = int(rng.integers(0, max(1, w - tile + 1)))
        valid = plot.valid[y:y + tile, x:x + tile]
        if valid.mean() >= min_valid:
            break
    rgb = pad_to(plot.rgb[y:y + tile, x:x + tile], tile, tile)
    mask = pad_to(plot.labelled[y:y + tile, x:x + tile], tile, tile, 'constant')
    chm = np.zeros((tile, tile), np.float32)
    if plot.chm is not None:
        c = pad_to(plot.chm[y:y + tile, x:x + tile], tile, tile, 'constant')
        chm = np.nan_to_num(c, nan=0.0).astype(np.float32)
    return rgb, chm, mask.astype(bool)


# Normalisation of the shipped model: statistics of our own training imagery would tie the model to
# it; Meta's inference.py constants keep one contract for every model in the registry.
MEAN = np.array([0.420, 0.411, 0.296], np.float32)
STD = np.array([0.213, 0.156, 0.143], np.float32)


def normalise(rgb_uint8: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) normalised as the manifest states."""
    x = rgb_uint8.astype(np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.moveaxis(x, -1, -3).copy()


def patch_means(chm: np.ndarray, mask: np.ndarray, patch: int):
    """Per-patch mean height and the fraction of labelled pixels (linear-probe targets)."""
    h, w = chm.shape
    gh, gw = h // patch, w // patch
    c = np.where(mask, chm, 0).astype(np.float64)[:gh * patch, :gw * patch].reshape(gh, patch, gw, patch)
    m = mask[:gh * patch, :gw * patch].reshape(gh, patch, gw, patch).astype(np.float64)
    cnt = m.sum(axis=(1, 3))
    mean = np.where(cnt > 0, c.sum(axis=(1, 3)) / np.maximum(cnt, 1), np.nan)
    return mean, cnt / (patch * patch)


# ---------- packed plots (for machines without GDAL or node: the GPU machine) ----------

def save_plot(path: str, plot: Plot) -> None:
    """One plot as a compressed .npz: everything training needs, nothing GDAL must re-read."""
    arrays = {'rgb': plot.rgb, 'valid': plot.valid, 'geotransform': np.asarray(plot.geotransform, np.float64),
              'meta': np.array([plot.name, plot.wkt, plot.source])}
    if plot.chm is not None:
        arrays['chm'] = plot.chm.astype(np.float16)  # 1 cm steps at 20 m: far below lidar error
    np.savez_compressed(path, **arrays)


def load_plot(path: str) -> Plot:
    z = np.load(path, allow_pickle=False)
    name, wkt, source = (str(s) for s in z['meta'])
    chm = z['chm'].astype(np.float32) if 'chm' in z.files else None
    return Plot(name=name, rgb=z['rgb'], valid=z['valid'], chm=chm, geotransform=tuple(z['geotransform']),
                wkt=wkt, source=source)


PACK_ROLES = ('train_scenes', 'eval_scenes', 'imagery', 'real_pairs')


def load_pack(pack_dir: str, role: str) -> List[Plot]:
    """The plots of one role of a pack written by models/train/pack.py, in the pack's order."""
    import json

    if role not in PACK_ROLES:
        raise ValueError(f'unknown pack role {role!r}; roles: {", ".join(PACK_ROLES)}')
    with open(os.path.join(pack_dir, 'pack.json')) as fh:
        index = json.load(fh)
    return [load_plot(os.path.join(pack_dir, f)) for f in index[role]]
