"""One GPU session of training, sized to a time budget: the `device` tool lends a GPU machine for
about 10 minutes a call, with no GDAL, no node and no ../shared. It reads a pack
(models/train/pack.py) and writes everything under --out:

  python -m models.train.gpu_session --pack var/train/pack --out $OUT/train --pretrain-sec 300 --head-sec 150

1. Calibration: a short pretraining run gives seconds per step, so the real run's step count (and
   with it every cosine schedule: lr, weight decay, teacher momentum) ends inside the budget.
2. DINOv2 pretraining (pretrain_dino) for that many steps, bfloat16 autocast, DataLoader workers.
3. Height heads on the frozen backbone (train_head), all at once on the one GPU: the final head
   on every training plot, and one head per real pair with that pair left out, so each real plot
   is scored by a head that never saw it.
The step counts land in session.json; rerunning pretrain_dino / train_head with them and the same
seeds and worker counts reproduces the run.

What comes back: the device tool returns at most 8 files, none deeper than 3 folders under $OUT,
and each call starts with an empty $OUT. So the session leaves exactly session.json,
pretrain/backbone.pt and heads/<name>.pt (7 files); logs go into session.json and checkpoints
into a scratch folder.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from models.train import data as D


def log(msg: str) -> None:
    print(f'[gpu_session {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def seconds_per_step(records, skip: int) -> float:
    """Steady-state seconds per step from a training log (the first `skip` steps warm up)."""
    late = [r for r in records if r['step'] > skip]
    if len(late) < 2:
        raise RuntimeError(f'calibration logged {len(records)} steps: too few to time')
    return (late[-1]['sec'] - late[0]['sec']) / (late[-1]['step'] - late[0]['step'])


def pretrain_args(a, out: str, steps: int, budget: float):
    from models.train import pretrain_dino
    return pretrain_dino.parser().parse_args([
        '--pack', a.pack, '--out', out, '--steps', str(steps), '--batch', str(a.pretrain_batch), '--lr', str(a.lr),
        '--freeze-last-layer', str(a.freeze_last_layer), '--device', a.device, '--workers', str(a.workers),
        '--seed', str(a.seed), '--time-budget', str(budget), '--ckpt-every', '60', '--log-every', '50', '--fresh',
        *(['--amp'] if a.amp else [])])


def head_command(a, backbone: str, out: str, steps: int, budget: float, exclude=()):
    return [sys.executable, '-m', 'models.train.train_head', '--pack', a.pack, '--backbone', backbone, '--out', out,
            '--steps', str(steps), '--batch', str(a.head_batch), '--lr', str(a.head_lr), '--device', a.device,
            '--workers', str(a.head_workers), '--seed', str(a.seed), '--time-budget', str(budget), '--log-every', '100',
            '--fresh', *(['--amp'] if a.amp else []), *(['--exclude', *exclude] if exclude else [])]


def run_heads(a, backbone: str, steps: int, budget: float, scratch: str, out: str) -> dict:
    """The final head and the leave-one-out heads in parallel, each saved as out/<name>.pt;
    returns name -> {status, last log lines}."""
    names = [p.name for p in D.load_pack(a.pack, 'real_pairs')]
    jobs = {'final': []} | {f'without_{n}': [n] for n in names}
    os.makedirs(out, exist_ok=True)
    procs = {}
    for name, exclude in jobs.items():
        work = os.path.join(scratch, name)
        os.makedirs(work, exist_ok=True)
        fh = open(os.path.join(work, 'log.txt'), 'w')
        procs[name] = (subprocess.Popen(head_command(a, backbone, work, steps, budget, exclude), stdout=fh,
                                        stderr=subprocess.STDOUT), fh)
    report = {}
    for name, (p, fh) in procs.items():
        report[name] = {'status': p.wait()}
        fh.close()
        work = os.path.join(scratch, name)
        with open(os.path.join(work, 'log.txt')) as log:
            report[name]['log'] = log.read().splitlines()[-3:]
        if os.path.exists(os.path.join(work, 'model.pt')):
            shutil.move(os.path.join(work, 'model.pt'), os.path.join(out, f'{name}.pt'))
    return report


def pretrain(a, info: dict, t0: float) -> str:
    import torch
    from models.train import pretrain_dino
    calib = os.path.join(a.out, 'calibration')
    pretrain_dino.train(pretrain_args(a, calib, 60, 60))
    sps = seconds_per_step(torch.load(os.path.join(calib, 'ckpt.pt'), map_location='cpu')['log'], 20)
    shutil.rmtree(calib)
    steps = max(100, int(a.pretrain_sec / sps))
    info['pretrain'] = {'sec_per_step': sps, 'steps': steps, 'calibration_sec': round(time.time() - t0, 1)}
    log(json.dumps(info['pretrain']))

    pre = os.path.join(a.out, 'pretrain')
    t1 = time.time()
    res = pretrain_dino.train(pretrain_args(a, pre, steps, a.pretrain_sec * 1.2))
    info['pretrain'].update(done_steps=res['steps'], sec=round(time.time() - t1, 1))
    log(json.dumps(info['pretrain']))
    backbone = os.path.join(pre, 'backbone.pt')

    return backbone


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pack', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--pretrain-sec', type=float, default=300)
    ap.add_argument('--head-sec', type=float, default=150)
    ap.add_argument('--pretrain-batch', type=int, default=128)
    ap.add_argument('--lr', type=float, default=7e-4)
    ap.add_argument('--freeze-last-layer', type=int, default=300)
    ap.add_argument('--workers', type=int, default=14)
    ap.add_argument('--head-batch', type=int, default=32)
    ap.add_argument('--head-lr', type=float, default=1e-3)
    ap.add_argument('--head-workers', type=int, default=2)
    ap.add_argument('--head-parallel-slowdown', type=float, default=2.5,
                    help='how much slower each head runs beside the others than alone (planning guess)')
    ap.add_argument('--backbone', default='', help='skip pretraining: train the heads on this backbone.pt')
    ap.add_argument('--head-steps', type=int, default=0, help='head steps (0: calibrate to --head-sec)')
    ap.add_argument('--amp', action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    import torch
    info = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(0) if a.device == 'cuda' else a.device,
            'args': vars(a)}
    log(json.dumps(info))
    t0 = time.time()

    if a.backbone:  # a backbone pretrained by an earlier session: heads only
        backbone = a.backbone
        info['pretrain'] = {'backbone': a.backbone}
    else:
        backbone = pretrain(a, info, t0)

    import tempfile
    scratch = tempfile.mkdtemp(prefix='gpu_session.')
    heads = os.path.join(a.out, 'heads')
    t2 = time.time()
    if a.head_steps:
        head_steps = a.head_steps
        info['heads'] = {'steps': head_steps}
    else:
        calib = os.path.join(scratch, 'head_calibration')
        subprocess.run(head_command(a, backbone, calib, 60, 60), check=True, stdout=subprocess.DEVNULL)
        hsps = seconds_per_step(torch.load(os.path.join(calib, 'ckpt.pt'), map_location='cpu')['log'], 20)
        shutil.rmtree(calib)
        head_steps = max(100, int(a.head_sec / (hsps * a.head_parallel_slowdown)))
        info['heads'] = {'sec_per_step_alone': hsps, 'steps': head_steps, 'calibration_sec': round(time.time() - t2, 1)}
    log(json.dumps(info['heads']))
    t3 = time.time()
    runs = run_heads(a, backbone, head_steps, a.head_sec * 1.3, scratch, heads)
    info['heads'].update(sec=round(time.time() - t3, 1), runs=runs)
    log(json.dumps(info['heads']))
    shutil.rmtree(scratch, ignore_errors=True)
    # The checkpoint only serves resuming inside this session: bring back weights, not optimiser state.
    ckpt = os.path.join(a.out, 'pretrain', 'ckpt.pt')
    if os.path.exists(ckpt) and os.path.exists(os.path.join(a.out, 'pretrain', 'backbone.pt')):
        os.remove(ckpt)
    info['total_sec'] = round(time.time() - t0, 1)
    with open(os.path.join(a.out, 'session.json'), 'w') as fh:
        json.dump(info, fh, indent=1)
    log(f'done in {info["total_sec"]} s')
    return 0 if all(r['status'] == 0 for r in runs.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
