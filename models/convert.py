"""`python -m models.convert`: a Meta HighResCanopyHeight checkpoint -> DIR/model.onnx + DIR/manifest.json.
Run through `forestmap convert` (server/cli/convert.ts); flags are stable."""
from __future__ import annotations

import argparse
import os
import re
import sys


def parse_taps(text: str):
    try:
        taps = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--taps wants comma-separated block indices, got '{text}'") from None
    if len(taps) != 4:
        raise argparse.ArgumentTypeError("--taps wants exactly 4 block indices")
    return taps


def parse_target(text: str):
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("--percentile-target wants 6 numbers") from None
    if len(vals) != 6 or not all(0 <= v <= 1 for v in vals):
        raise argparse.ArgumentTypeError("--percentile-target wants 6 numbers in [0,1]: p5 R,G,B,p95 R,G,B")
    return vals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="forestmap convert", description=__doc__)
    ap.add_argument("--checkpoint", required=True, help="Meta .pth (float SSLhuge_satellite.pth or compressed_*.pth)")
    ap.add_argument("--out", required=True, help="output model directory")
    ap.add_argument("--heads", type=int, help="attention heads (default by width: 1024->16, 1280->20)")
    ap.add_argument("--taps", type=parse_taps, help="tapped blocks, e.g. 9,16,22,29 (default by depth: 24, 32)")
    ap.add_argument("--name", help="model name (default: the output folder's name)")
    ap.add_argument("--version", default="1")
    ap.add_argument("--description")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--norm", choices=["inference", "notebook"], default="inference", help="red mean 0.420 (inference.py) or 0.430 (notebook)")
    ap.add_argument("--gsd", type=float, default=0.6, help="ground sample distance the model expects, m/px")
    ap.add_argument("--percentile-target", type=parse_target, help="aerial colour matching: p5 R,G,B,p95 R,G,B in [0,1]")
    ap.add_argument("--default", action="store_true", help='mark the manifest "default": true')
    ap.add_argument("--test-fixture", action="store_true", help="mark as a random-weight test fixture")
    ap.add_argument("--external-data", choices=["auto", "yes", "no"], default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)

    import torch

    from .hrch.checkpoint import CheckpointError, load_hrch
    from .hrch.export import export_onnx, sha256_file
    from .hrch.manifest import hrch_manifest_fields

    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.name or re.sub(r"[^a-z0-9._-]+", "-", os.path.basename(os.path.normpath(args.out)).lower()).strip("-._")[:64]
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name or ""):
        print(f"convert: model name '{name}' must be lowercase letters, digits, '.', '_' or '-' (pass --name)", file=sys.stderr)
        return 2
    try:
        model, cfg, layout = load_hrch(args.checkpoint, heads=args.heads, taps=args.taps)
    except CheckpointError as err:
        print(f"convert: {err}", file=sys.stderr)
        return 1
    print(f"loaded {args.checkpoint} ({layout}): width {cfg.embed_dim}, {cfg.depth} blocks, {cfg.num_heads} heads, taps {list(cfg.out_indices)}", file=sys.stderr)
    fields = hrch_manifest_fields(
        cfg, name=name, version=args.version, description=args.description,
        checkpoint=os.path.basename(args.checkpoint), checkpoint_sha256=sha256_file(args.checkpoint), layout=layout,
        norm=args.norm, gsd=args.gsd, test_fixture=args.test_fixture, default=args.default,
        percentile_target=args.percentile_target,
    )
    external = {"auto": None, "yes": True, "no": False}[args.external_data]
    manifest = export_onnx(model, args.out, fields, opset=args.opset, external_data=external)
    print(f"wrote {os.path.join(args.out, manifest['onnx']['file'])} and manifest.json ({manifest['name']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
