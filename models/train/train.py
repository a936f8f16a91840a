"""Reproduce models/forestmap-vit from one command, with fixed seeds:

  /usr/bin/python3 -m models.train.train --head-steps 260 --threads 2   # the shipped CPU run, then:
  /usr/bin/python3 -m models.train.train --head-steps 520 --threads 2   # resumes the head to 520 steps
  (the second call continues the head from its checkpoint with a warm restart of the cosine
  schedule; pretraining ran on 1 thread and stopped at its 2400 s budget, step 428 of 500)

The GPU path (the shipped model): pack the data here, train on the GPU machine, finish here:
  /usr/bin/python3 -m models.train.pack --out var/train/pack           # scenes + real pairs as .npz
  python3 -m models.train.gpu_session --pack var/train/pack --out $OUT  # on the GPU machine (device tool)
  /usr/bin/python3 -m models.train.train --gpu-session var/train/gpu    # the session's files copied back:
                                                                        # probe, leave-one-out scores, ONNX

Stages (each skipped when its output exists, so an interrupted run resumes; --force redoes all):
  1. synthetic scenes (`forestmap scene`, seeds 1..N for training, 101.. for evaluation)
  2. DINOv2 pretraining of the ViT on unlabelled imagery (scenes + NEON RGB + Autzen orthophoto)
  3. linear probe: pretrained vs random-weight backbone
  4. DPT height head on the frozen backbone (synthetic CHMs + real training pairs)
  5. evaluation beside baselines, ONNX export, manifest and EVAL.md
Generated data and checkpoints live in var/train/ (git-ignored); ../shared/data is only read.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from models.train import data as D



def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default=D.VAR_TRAIN)
    ap.add_argument('--model-dir', default=os.path.join(D.REPO_ROOT, 'models', 'forestmap-vit'))
    ap.add_argument('--scene-size', type=int, default=512)
    ap.add_argument('--train-scenes', type=int, default=8)
    ap.add_argument('--eval-scenes', type=int, default=4)
    ap.add_argument('--pretrain-steps', type=int, default=500)
    ap.add_argument('--pretrain-batch', type=int, default=24)
    ap.add_argument('--head-steps', type=int, default=520)
    ap.add_argument('--head-batch', type=int, default=4)
    ap.add_argument('--head-tile', type=int, default=128)
    ap.add_argument('--real-train', nargs='*', default=[], help='NAME=RGB.tif:CHM.tif extra labelled real pairs')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--pretrain-budget', type=float, default=2400, help='stop pretraining after this many seconds (0: none)')
    ap.add_argument('--head-budget', type=float, default=1200, help='stop head training after this many seconds (0: none)')
    ap.add_argument('--gpu-session', default='', help='a gpu_session output folder (session.json, pretrain/backbone.pt, '
                    'heads/<final | without_NAME>.pt): skip stages 1, 2 and 4 and score its weights on --pack')
    ap.add_argument('--pack', default=os.path.join(D.VAR_TRAIN, 'pack'), help='the pack the GPU session trained on')
    ap.add_argument('--force', action='store_true')
    ap.add_argument('--until', choices=['scenes', 'pretrain', 'probe', 'head', 'export'], default='export')
    return ap.parse_args(argv)


CPU_NOTES = [
    'A CPU run is tiny (a few hundred steps on 2 shared cores). In the one we ran, the DINO [CLS] loss stayed at '
    'ln(1024) = 6.93 throughout pretraining: with LayerScale initialised at 1e-5 the blocks barely touch the tokens '
    'in so few steps, the [CLS] token is almost the same for every image and Sinkhorn-Knopp targets stay uniform. '
    'The iBOT patch loss did fall a little, and that is the signal the patch features got.',
]


def from_gpu_session(a) -> int:
    """Stages 3 and 5 on the weights a GPU session made (models/train/gpu_session.py): its
    session.json, pretrain/backbone.pt and heads/<final | without_NAME>.pt."""
    from models.train import probe, report, train_head
    with open(os.path.join(a.gpu_session, 'session.json')) as f:
        session = json.load(f)
    backbone = os.path.join(a.gpu_session, 'pretrain', 'backbone.pt')
    real = D.load_pack(a.pack, 'real_pairs')
    heads = {'final': os.path.join(a.gpu_session, 'heads', 'final.pt')}
    heads.update({p.name: os.path.join(a.gpu_session, 'heads', f'without_{p.name}.pt') for p in real})
    missing = [h for h in heads.values() if not os.path.exists(h)]
    if missing:
        raise SystemExit(f'the GPU session folder lacks {", ".join(missing)}')
    train_scenes, eval_scenes = D.load_pack(a.pack, 'train_scenes'), D.load_pack(a.pack, 'eval_scenes')
    probe_file = os.path.join(a.work, 'probe.gpu.json')
    if a.force or not os.path.exists(probe_file):
        with open(probe_file, 'w') as fh:
            json.dump(probe.run(backbone, train_scenes, eval_scenes, seed=a.seed), fh, indent=1)
    with open(probe_file) as fh:
        print('[train] linear probe:', fh.read(), flush=True)
    pre, hd = session['pretrain'], session['heads']
    training = {
        'version': '0.2.0',
        'device': f'{session["device"]} (torch {session["torch"]}, bfloat16 autocast)',
        'heldOut': [f'{p.name} (left out of the head that scores it)' for p in real] +
                   ['Kootenay', f'synthetic seeds 101..{100 + len(eval_scenes)}'],
        'pretraining': {'seconds': pre.get('sec'), 'lr': session['args']['lr'], 'workers': session['args']['workers']},
        'head': {'batch': session['args']['head_batch'], 'lr': session['args']['head_lr'],
                 'leaveOneOut': sorted(k for k in heads if k != 'final'),
                 'realShare': train_head.parser().get_default('real_share')},
        'notes': [f'One GPU session: {pre.get("done_steps")} pretraining steps of batch {session["args"]["pretrain_batch"]} '
                  f'in {pre.get("sec")} s, then {len(heads)} heads of {hd["steps"]} steps (batch {session["args"]["head_batch"]}) '
                  f'side by side. {hd.get("note", "")}'.strip(),
                  'Each real plot is scored by a head trained without it, and its baselines are refitted without it; '
                  'synthetic scenes and Kootenay are scored by the final head (trained on every training plot).'],
        'reproduce': '`/usr/bin/python3 -m models.train.pack`, then `python3 -m models.train.gpu_session --pack var/train/pack '
                     '--out OUT` on a GPU, then `/usr/bin/python3 -m models.train.train --gpu-session OUT` (fixed seeds; '
                     'step counts in the manifest).',
    }
    report.run(a, train_scenes + real, eval_scenes, real, backbone, heads, probe_file, training)
    print(f'[train] exported to {a.model_dir}', flush=True)
    return 0


def main(argv=None) -> int:
    a = parse(argv)
    os.makedirs(a.work, exist_ok=True)
    if a.gpu_session:
        return from_gpu_session(a)
    t0 = time.time()
    scenes_dir = os.path.join(a.work, 'scenes')
    train_dirs = D.make_scenes(scenes_dir, range(1, a.train_scenes + 1), a.scene_size)
    eval_dirs = D.make_scenes(scenes_dir, range(101, 101 + a.eval_scenes), a.scene_size)
    print(f'[train] scenes ready ({time.time() - t0:.0f}s)', flush=True)
    if a.until == 'scenes':
        return 0

    from models.train import pretrain_dino, train_head
    pre_out = os.path.join(a.work, 'pretrain')
    if a.force or not os.path.exists(os.path.join(pre_out, 'backbone.pt')):
        pretrain_dino.train(pretrain_dino.parser().parse_args([
            '--out', pre_out, '--scenes', *train_dirs, '--steps', str(a.pretrain_steps), '--batch', str(a.pretrain_batch),
            '--device', a.device, '--threads', str(a.threads), '--seed', str(a.seed), '--time-budget', str(a.pretrain_budget)]))
    print(f'[train] pretraining done ({time.time() - t0:.0f}s)', flush=True)
    if a.until == 'pretrain':
        return 0

    probe_file = os.path.join(a.work, 'probe.json')
    if a.force or not os.path.exists(probe_file):
        from models.train import probe
        res = probe.run(os.path.join(pre_out, 'backbone.pt'), [D.scene_plot(d, os.path.basename(d)) for d in train_dirs],
                        [D.scene_plot(d, os.path.basename(d)) for d in eval_dirs], seed=a.seed)
        with open(probe_file, 'w') as fh:
            json.dump(res, fh, indent=1)
    with open(probe_file) as fh:
        print('[train] linear probe:', fh.read(), flush=True)
    if a.until == 'probe':
        return 0

    head_out = os.path.join(a.work, 'head')
    if a.force or not os.path.exists(os.path.join(head_out, 'model.pt')):
        train_head.train(train_head.parser().parse_args([
            '--backbone', os.path.join(pre_out, 'backbone.pt'), '--out', head_out, '--scenes', *train_dirs,
            *(['--real', *a.real_train] if a.real_train else []), '--steps', str(a.head_steps), '--batch', str(a.head_batch),
            '--tile', str(a.head_tile), '--device', a.device, '--threads', str(a.threads), '--seed', str(a.seed),
            '--time-budget', str(a.head_budget)]))
    print(f'[train] head done ({time.time() - t0:.0f}s)', flush=True)
    if a.until == 'head':
        return 0

    from models.train import report
    from models.train.train_head import labelled_plots
    training = {'device': f'cpu, {a.threads} thread(s)', 'heldOut': report.HELD_OUT_REAL + ['Kootenay', f'synthetic seeds 101..{100 + len(eval_dirs)}'],
                'notes': CPU_NOTES, 'reproduce': '`/usr/bin/python3 -m models.train.train` (fixed seeds).'}
    report.run(a, labelled_plots(train_dirs, a.real_train), [D.scene_plot(d, os.path.basename(d)) for d in eval_dirs],
               report.shared_real_plots(), os.path.join(pre_out, 'backbone.pt'), {'final': os.path.join(head_out, 'model.pt')},
               probe_file, training)
    print(f'[train] exported to {a.model_dir} ({time.time() - t0:.0f}s)', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
