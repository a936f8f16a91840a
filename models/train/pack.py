"""Pack the training and evaluation plots as .npz files, so training can run where neither GDAL
nor node exists (the GPU machine), and the data travel as one compact folder.

  /usr/bin/python3 -m models.train.pack --out var/train/pack --train-scenes 24 --eval-scenes 4

Roles (pack.json): train_scenes (synthetic image + CHM), eval_scenes (held out), imagery (real RGB
without heights, for pretraining, which also reads the pairs' RGB without their heights),
real_pairs (real RGB + lidar CHM for the head; each is left out of the head it is scored with).
Kootenay is never packed: it is evaluation-only data under GPL-3.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Dict, List

from models.train import data as D

# Labelled real pairs: NEON lidar CHMs as published, and CHMs our own point-cloud command makes.
REAL_PAIRS = ('SJER_052', 'JERC_049', 'BART_041', 'autzen')
# Unlabelled real imagery beyond the pairs (pretraining reads the pairs' RGB too, without heights).
IMAGERY = ('OSBS_95_competition', '2018_SJER_3_252000_4107000_image_477')


def point_cloud_chm(points: str, out: str, res: float, crs: str = '') -> str:
    """A CHM from a point cloud with `forestmap chm` (the trees issue's command), made once."""
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cmd = ['node', os.path.join(D.REPO_ROOT, 'bin', 'forestmap.js'), 'chm', '--points', points, '--out', out,
               '--res', str(res)] + (['--crs', crs] if crs else [])
        subprocess.run(cmd, check=True, cwd=D.REPO_ROOT, stdout=subprocess.DEVNULL)
    return out


def real_pairs(work: str) -> List[D.Plot]:
    neon = os.path.join(D.SHARED_DATA, 'neon')
    if not os.path.isdir(neon):
        return []
    pairs = [D.neon_plot(n, os.path.join(neon, f'{n}_CHM.tif')) for n in ('SJER_052', 'JERC_049')]
    pairs.append(D.neon_plot('BART_041', point_cloud_chm(os.path.join(neon, 'BART_041.laz'),
                                                         os.path.join(work, 'real', 'BART_041_CHM.tif'), 0.5)))
    autzen = D.autzen_plot()
    autzen.chm = D.read_heights_on(autzen, point_cloud_chm(os.path.join(D.SHARED_DATA, 'autzen', 'autzen_trim.las'),
                                                           os.path.join(work, 'real', 'autzen_CHM.tif'), 1.0,
                                                           'EPSG:2994'), 'bilinear')
    autzen.name = 'autzen'
    pairs.append(autzen)
    return pairs


def build(out: str, train_scenes: int, eval_scenes: int, scene_size: int, work: str = D.VAR_TRAIN) -> Dict[str, List[str]]:
    os.makedirs(out, exist_ok=True)
    scenes_dir = os.path.join(work, 'scenes')
    roles: Dict[str, List[D.Plot]] = {
        'train_scenes': [D.scene_plot(d, os.path.basename(d))
                         for d in D.make_scenes(scenes_dir, range(1, train_scenes + 1), scene_size)],
        'eval_scenes': [D.scene_plot(d, os.path.basename(d))
                        for d in D.make_scenes(scenes_dir, range(101, 101 + eval_scenes), scene_size)],
        'imagery': [], 'real_pairs': real_pairs(work)}
    if os.path.isdir(os.path.join(D.SHARED_DATA, 'neon')):
        roles['imagery'] = [D.neon_plot(n) for n in IMAGERY if n not in REAL_PAIRS]
    index = {}
    for role, plots in roles.items():
        index[role] = []
        for p in plots:
            f = f'{role}.{p.name}.npz'
            D.save_plot(os.path.join(out, f), p)
            index[role].append(f)
    with open(os.path.join(out, 'pack.json'), 'w') as fh:
        json.dump(index, fh, indent=1)
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(D.VAR_TRAIN, 'pack'))
    ap.add_argument('--train-scenes', type=int, default=24)
    ap.add_argument('--eval-scenes', type=int, default=4)
    ap.add_argument('--scene-size', type=int, default=512)
    a = ap.parse_args(argv)
    index = build(a.out, a.train_scenes, a.eval_scenes, a.scene_size)
    print(json.dumps({k: len(v) for k, v in index.items()}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
