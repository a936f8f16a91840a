"""PyTorch reference for bench/inference.ts, plus the FLOP count and matmul peak it prints.

  pipeline  --image RGB.tif --checkpoint CKPT.pth --out CHM.tif [--window 1024] [--threads N]
            Meta's notebook pipeline (NOTES.md §7) with the port in models/hrch on the CPU:
            raster windows of 1024 px (the last one flush with the edge, overwriting), 256 px tiles
            at stride 192 inside each window, all tiles of a window in one batch, relu(10y + offset),
            apodization blending in float64, float32 GeoTIFF out. Prints one JSON line of timings.
  flops     --checkpoint CKPT --manifest M [--size 256]   FLOPs per tile (torch.profiler on the port)
  peak      [--n 2048] [--threads N]          numpy float32 matmul GFLOP/s (best of several)
  matmul-onnx --out FILE.onnx --n N           a single N x N MatMul graph (for onnxruntime's peak)
  random-checkpoint --shapes KEYS.tsv --out CKPT.pth [--seed N]
            Meta's released architecture at full size (shapes from the fixture's key table, e.g.
            large_state_dict_keys.tsv) with seeded random weights: for timing the pipeline on the
            real model's compute. Its heights are meaningless; the manifest says so.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def apodization(size=256):
    from scipy.ndimage import gaussian_filter
    pad = int(size / 16)
    box = np.ones((size - 2 * pad, size - 2 * pad))
    w = np.pad(box, pad)
    w = gaussian_filter(w, sigma=pad / 2)
    w[w < 1e-14] = 1e-14
    return w


def origins(size, win, stride):
    return list(range(0, size - win + 1, stride))


def pipeline(args):
    import torch
    from osgeo import gdal
    import resource
    torch.set_num_threads(args.threads)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_start = ru0.ru_utime + ru0.ru_stime
    t_start = time.perf_counter()
    model = load_model(args.checkpoint, args.manifest)
    load_seconds = time.perf_counter() - t_start
    manifest = json.load(open(args.manifest)) if args.manifest else None
    mean = np.array(manifest['input']['mean'] if manifest else [0.420, 0.411, 0.296], np.float32).reshape(3, 1, 1)
    std = np.array(manifest['input']['std'] if manifest else [0.213, 0.156, 0.143], np.float32).reshape(3, 1, 1)
    offset = float(manifest['output']['offset']) if manifest else 0.0
    ds = gdal.Open(args.image)
    W, H = ds.RasterXSize, ds.RasterYSize
    ws = min(args.window, W, H)
    drv = gdal.GetDriverByName('GTiff')
    out = drv.Create(args.out, W, H, 1, gdal.GDT_Float32, ['TILED=YES', 'COMPRESS=DEFLATE'])
    out.SetGeoTransform(ds.GetGeoTransform())
    out.SetProjection(ds.GetProjection())
    band = out.GetRasterBand(1)
    tile = int(manifest['tiling']['tileSize']) if manifest else 256
    stride = int(manifest['tiling']['stride']) if manifest else 192
    apo = apodization(tile)

    def window_origins(size):
        regular = list(range(0, size, ws))
        # all but the last regular origin, then one window flush with the edge (it overwrites)
        return regular[:-1] + [size - ws] if len(regular) > 1 else [0]

    model_s = 0.0
    tiles = 0
    with torch.no_grad():
        for wy in window_origins(H):
            for wx in window_origins(W):
                rgb = ds.ReadAsArray(wx, wy, ws, ws).astype(np.float32)  # 3 x ws x ws
                x = (rgb / np.float32(255.0) - mean) / std
                oy, ox = origins(ws, tile, stride), origins(ws, tile, stride)
                batch = np.stack([x[:, a:a + tile, b:b + tile] for a in oy for b in ox])
                t0 = time.perf_counter()
                y = model(torch.from_numpy(np.ascontiguousarray(batch)))
                pred = torch.relu(10 * y + offset).numpy()[:, 0]
                model_s += time.perf_counter() - t0
                tiles += len(batch)
                acc = np.zeros((ws, ws))
                wsum = np.full((ws, ws), 1e-14)
                k = 0
                for a in oy:
                    for b in ox:
                        acc[a:a + tile, b:b + tile] += apo * pred[k]
                        wsum[a:a + tile, b:b + tile] += apo
                        k += 1
                band.WriteArray((acc * (1 / wsum)).astype(np.float32), wx, wy)
    band.FlushCache()
    out = None
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = ru.ru_utime + ru.ru_stime - cpu_start
    print(json.dumps({'seconds': time.perf_counter() - t_start, 'load_seconds': load_seconds, 'model_seconds': model_s, 'tiles': tiles, 'threads': args.threads, 'peak_rss': ru.ru_maxrss * 1024, 'cpu_seconds': cpu_seconds, 'width': W, 'height': H}))


def load_model(checkpoint, manifest_path):
    """The manifest's model in torch: the HRCH port from a Meta-layout checkpoint, or, for the
    project's own 'vit-dpt' architecture without a checkpoint, that architecture with seeded random
    weights (its trained weights are not in the repository): the same arithmetic, for timing and
    FLOP counts only."""
    manifest = json.load(open(manifest_path)) if manifest_path else {}
    cfg = manifest.get('provenance', {}).get('architectureConfig', {})
    if manifest.get('architecture') == 'vit-dpt' and not checkpoint:
        import torch
        from models.train.arch import ArchConfig, build_canopy_model
        torch.manual_seed(0)
        keys = ArchConfig.__dataclass_fields__.keys()
        return build_canopy_model(ArchConfig(**{k: v for k, v in cfg.items() if k in keys})).eval()
    from models.hrch.checkpoint import load_hrch
    model, _, _ = load_hrch(checkpoint, heads=cfg.get('num_heads'), taps=cfg.get('out_indices'))
    return model.eval()


def flops(args):
    """FLOPs of one tile, counted by torch.profiler on the port (the graph the ONNX was exported from):
    matrix multiplies and convolutions, 2 per multiply-add. Attention's q.k and attn.v are bmm/matmul."""
    import torch
    from torch.profiler import profile, ProfilerActivity
    model = load_model(args.checkpoint, args.manifest)
    x = torch.zeros(1, 3, args.size, args.size)
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        model(x)
    by_op = {}
    for e in prof.key_averages():
        if e.flops:
            by_op[e.key] = by_op.get(e.key, 0) + e.flops
    print(json.dumps({'flops_per_tile': sum(by_op.values()), 'by_op': by_op, 'size': args.size}))


def peak(args):
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    n = args.n
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b
    best = 1e9
    c0 = time.process_time()
    for _ in range(args.rounds):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    cpu = time.process_time() - c0
    print(json.dumps({'gflops': 2 * n ** 3 / best / 1e9, 'gflops_per_cpu_second': args.rounds * 2 * n ** 3 / cpu / 1e9, 'n': n, 'seconds': best}))


def matmul_onnx(args):
    import onnx
    from onnx import helper, TensorProto
    n = args.n
    a = helper.make_tensor_value_info('a', TensorProto.FLOAT, [n, n])
    b = helper.make_tensor_value_info('b', TensorProto.FLOAT, [n, n])
    c = helper.make_tensor_value_info('c', TensorProto.FLOAT, [n, n])
    g = helper.make_graph([helper.make_node('MatMul', ['a', 'b'], ['c'])], 'matmul', [a, b], [c])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])
    m.ir_version = 8
    onnx.save(m, args.out)


def random_checkpoint(args):
    import csv
    import torch
    from models.hrch.checkpoint import infer_config, check_shapes
    from models.hrch.model import build_hrch
    with open(args.shapes) as f:
        rows = list(csv.DictReader(f, delimiter='\t'))
    shapes = {r['key']: json.loads(r['shape']) for r in rows}
    cfg = infer_config(shapes)
    torch.manual_seed(args.seed)
    model = build_hrch(cfg)
    # small weights keep activations finite through 24 blocks; only the arithmetic is timed
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                p.normal_(0, 0.02)
    sd = model.state_dict()
    # Meta's key table also lists keys with no numeric effect (mask_token); keep exactly the port's
    check_shapes({k: tuple(v.shape) for k, v in sd.items()}, cfg)
    torch.save(sd, args.out)
    print(json.dumps({'checkpoint': args.out, 'config': cfg.to_dict(), 'params': sum(v.numel() for v in sd.values())}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('pipeline')
    a.add_argument('--image', required=True)
    a.add_argument('--checkpoint')
    a.add_argument('--manifest')
    a.add_argument('--out', required=True)
    a.add_argument('--window', type=int, default=1024)
    a.add_argument('--threads', type=int, default=os.cpu_count())
    f = sub.add_parser('flops')
    f.add_argument('--checkpoint')
    f.add_argument('--manifest')
    f.add_argument('--size', type=int, default=256)
    k = sub.add_parser('peak')
    k.add_argument('--n', type=int, default=2048)
    k.add_argument('--rounds', type=int, default=5)
    k.add_argument('--threads', type=int, default=os.cpu_count())
    mo = sub.add_parser('matmul-onnx')
    mo.add_argument('--out', required=True)
    mo.add_argument('--n', type=int, default=2048)
    rc = sub.add_parser('random-checkpoint')
    rc.add_argument('--shapes', required=True)
    rc.add_argument('--out', required=True)
    rc.add_argument('--seed', type=int, default=0)
    args = p.parse_args()
    {'pipeline': pipeline, 'flops': flops, 'peak': peak, 'matmul-onnx': matmul_onnx, 'random-checkpoint': random_checkpoint}[args.cmd](args)


if __name__ == '__main__':
    main()
