"""ONNX export + manifest writing for any model that maps normalised NCHW float32 to (N,1,H,W).

``export_onnx(model, out_dir, manifest_fields)`` writes OUT/model.onnx (dynamic batch, height and
width axes) and OUT/manifest.json (the contract in models/manifest.schema.json, documented in
models/README.md). Weights over 100 MB are written to one external-data file beside the graph.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import warnings
from typing import Optional, Tuple

import torch

ONNX_FILE = "model.onnx"
EXTERNAL_DATA_FILE = "model.onnx.data"
MANIFEST_FILE = "manifest.json"
# protobuf's hard limit is 2 GiB; leave room for the graph itself.
# Weights above this go to a data file beside the graph (and must, past protobuf's 2 GB): onnxruntime
# then maps them from the file instead of holding a parsed copy beside its own. Meta's ViT-L: peak
# RSS 2.2 -> 1.55 GB for one tile, at about 6% more time per tile (measured with onnxruntime-node
# 1.30 on 2 cores); memory is what a large model runs out of first.
EXTERNAL_DATA_THRESHOLD = 100_000_000

REQUIRED = ("name", "version", "architecture", "license", "provenance", "input", "output", "tiling")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _param_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def export_onnx(
    model: torch.nn.Module,
    out_dir: str,
    manifest_fields: dict,
    *,
    opset: int = 17,
    input_name: str = "image",
    output_name: str = "height",
    sample_size: Tuple[int, int] = (256, 256),
    external_data: Optional[bool] = None,
) -> dict:
    """Exports model (eval mode, float32, CPU) and writes the manifest. Returns the manifest dict.

    manifest_fields holds every manifest section except ``onnx`` (filled in here). external_data:
    None decides by size (over 100 MB of weights), True/False forces it."""
    missing = [k for k in REQUIRED if k not in manifest_fields]
    if missing:
        raise ValueError(f"manifest_fields lacks {', '.join(missing)}")
    os.makedirs(out_dir, exist_ok=True)
    model = model.eval().float().cpu()
    use_external = _param_bytes(model) > EXTERNAL_DATA_THRESHOLD if external_data is None else external_data
    onnx_path = os.path.join(out_dir, ONNX_FILE)
    data_path = os.path.join(out_dir, EXTERNAL_DATA_FILE)
    for stale in (onnx_path, data_path):
        if os.path.exists(stale):
            os.remove(stale)

    sample = torch.zeros(1, 3, *sample_size)
    dyn = {input_name: {0: "batch", 2: "height", 3: "width"}, output_name: {0: "batch", 2: "out_height", 3: "out_width"}}
    import onnx  # imported late: only export needs it

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        # torch writes large graphs as one file per tensor; export into a scratch folder and
        # re-save as one graph (+ one data file) so the model directory stays tidy.
        tmp_path = os.path.join(tmp, ONNX_FILE)
        # the height-bin expectation goes into the graph as one convolution (DPTHead.expectation_fused)
        from models.hrch.model import DPTHead
        heads = [m for m in model.modules() if isinstance(m, DPTHead)]
        for h in heads:
            h.fused_expectation = True
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # Tracer warnings about shape arithmetic are expected: the graph is checked on every size.
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model, sample, tmp_path, opset_version=opset, input_names=[input_name], output_names=[output_name],
                    dynamic_axes=dyn, do_constant_folding=True,
                )
        finally:
            for h in heads:
                h.fused_expectation = False
        proto = onnx.load(tmp_path, load_external_data=True)
        if use_external:
            onnx.save_model(proto, onnx_path, save_as_external_data=True, all_tensors_to_one_file=True, location=EXTERNAL_DATA_FILE, size_threshold=1024)
        else:
            onnx.save_model(proto, onnx_path)
    onnx.checker.check_model(onnx_path)

    manifest = copy.deepcopy(manifest_fields)
    manifest["onnx"] = {
        "file": ONNX_FILE,
        "inputName": input_name,
        "outputName": output_name,
        "opset": opset,
        "sha256": sha256_file(onnx_path),
        "bytes": os.path.getsize(onnx_path),
    }
    if use_external:
        manifest["onnx"]["externalData"] = EXTERNAL_DATA_FILE
    with open(os.path.join(out_dir, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest
