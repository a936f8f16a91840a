"""The loader's strict key mapping against the real checkpoints' key lists (built on the meta
device: no 2.7 GB allocation), and its refusals."""
import os
import tempfile
import unittest
from collections import OrderedDict

import torch

from models.hrch.checkpoint import (
    CheckpointError,
    check_shapes,
    dequantize_state_dict,
    infer_config,
    load_hrch,
    read_checkpoint,
)

torch.set_num_threads(2)
FIX = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "hrch")
HAVE = os.path.isdir(FIX)


def parse_shape(text):
    text = text.strip("[]")
    return tuple(int(s) for s in text.split(",")) if text else ()


def float_tsv(name):
    """key -> shape from a *_state_dict_keys.tsv."""
    with open(os.path.join(FIX, name)) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return OrderedDict((r[0], parse_shape(r[1])) for r in rows if r and r[0])


def compressed_tsv_entries(name):
    """The compressed state_dict as meta tensors, with its tuple/dtype entries, from the tsv."""
    with open(os.path.join(FIX, name)) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    sd = OrderedDict()
    for key, kind, shape, *_ in rows:
        if kind.startswith("tuple"):
            w, b = shape.split(";")
            sd[key] = (torch.empty(parse_shape(w[len("weight"):]), device="meta"), torch.empty(parse_shape(b[len("bias"):]), device="meta"))
        elif kind == "torch.dtype_object":
            sd[key] = torch.qint8
        else:
            sd[key] = torch.empty(parse_shape(shape), device="meta")
    return sd


@unittest.skipUnless(HAVE, f"HRCH fixtures missing at {FIX}")
class KeyLists(unittest.TestCase):
    def test_huge_float_keys(self):
        shapes = float_tsv("huge_state_dict_keys.tsv")
        self.assertEqual(len(shapes), 511)
        cfg = infer_config(shapes)  # heads and taps from the known-variant tables
        self.assertEqual((cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.out_indices), (1280, 32, 20, (9, 16, 22, 29)))
        self.assertEqual(tuple(cfg.post_process_channels), (160, 320, 640, 1280))
        self.assertEqual((cfg.channels, cfg.n_bins, cfg.patch_size, cfg.img_size), (256, 256, 16, 224))
        check_shapes(shapes, cfg)

    def test_large_float_keys(self):
        shapes = float_tsv("large_state_dict_keys.tsv")
        self.assertEqual(len(shapes), 399)
        cfg = infer_config(shapes)
        self.assertEqual((cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.out_indices), (1024, 24, 16, (4, 11, 17, 23)))
        self.assertEqual(tuple(cfg.post_process_channels), (128, 256, 512, 1024))
        check_shapes(shapes, cfg)

    def test_compressed_key_lists_dequantise_to_the_float_keys(self):
        for compressed, plain in (("huge_compressed_state_dict_keys.tsv", "huge_state_dict_keys.tsv"),
                                  ("large_compressed_state_dict_keys.tsv", "large_state_dict_keys.tsv")):
            with self.subTest(compressed):
                sd = dequantize_state_dict(compressed_tsv_entries(compressed))
                shapes = OrderedDict((k, tuple(v.shape)) for k, v in sd.items())
                self.assertEqual(shapes, float_tsv(plain))
                check_shapes(shapes, infer_config(shapes))

    def test_missing_extra_and_misshaped_keys_are_rejected(self):
        shapes = float_tsv("large_state_dict_keys.tsv")
        cfg = infer_config(shapes)
        missing = OrderedDict(shapes)
        del missing["backbone.blocks.7.ls2.gamma"]
        with self.assertRaisesRegex(CheckpointError, r"1 missing: backbone\.blocks\.7\.ls2\.gamma"):
            check_shapes(missing, cfg)
        extra = OrderedDict(shapes)
        extra["decode_head.fusion_blocks.0.res_conv_unit1.conv1.conv.weight"] = (256, 256, 3, 3)
        with self.assertRaisesRegex(CheckpointError, r"1 unexpected: decode_head\.fusion_blocks\.0\.res_conv_unit1"):
            check_shapes(extra, cfg)
        prefixed = OrderedDict(("chm_module_." + k, v) for k, v in shapes.items())
        with self.assertRaisesRegex(CheckpointError, "not an HRCH checkpoint"):
            infer_config(prefixed)
        wrong = OrderedDict(shapes)
        wrong["backbone.blocks.3.mlp.fc2.bias"] = (1000,)
        with self.assertRaisesRegex(CheckpointError, "wrong shape"):
            check_shapes(wrong, cfg)

    def test_unknown_width_needs_heads_flag(self):
        shapes = float_tsv("large_state_dict_keys.tsv")
        shapes["backbone.pos_embed"] = (1, 197, 1000)
        with self.assertRaisesRegex(CheckpointError, "--heads"):
            infer_config(shapes)

    def test_compressed_entry_without_its_qparams_is_rejected(self):
        sd = compressed_tsv_entries("large_compressed_state_dict_keys.tsv")
        del sd["backbone.blocks.0.attn.qkv.scale"]
        with self.assertRaisesRegex(CheckpointError, r"backbone\.blocks\.0\.attn\.qkv"):
            dequantize_state_dict(sd)


@unittest.skipUnless(HAVE, f"HRCH fixtures missing at {FIX}")
class Files(unittest.TestCase):
    def test_dequantisation_equals_torch_dequantize(self):
        raw = torch.load(os.path.join(FIX, "mini_compressed.pth"), map_location="cpu")
        key = "backbone.blocks.0.mlp.fc1._packed_params._packed_params"
        w = raw[key][0]
        sd, layout = read_checkpoint(os.path.join(FIX, "mini_compressed.pth"))
        self.assertTrue(torch.equal(sd["backbone.blocks.0.mlp.fc1.weight"], w.dequantize()))
        self.assertEqual(layout, "compressed-qint8-dequantized")

    def test_checkpoint_with_a_missing_or_extra_key_fails_to_load(self):
        sd, _ = read_checkpoint(os.path.join(FIX, "mini_checkpoint.pth"))
        with tempfile.TemporaryDirectory() as tmp:
            for label, edit in (("missing", lambda d: d.pop("decode_head.project.conv.bias")),
                                ("unexpected", lambda d: d.__setitem__("backbone.extra", torch.zeros(1)))):
                d = OrderedDict(sd)
                edit(d)
                path = os.path.join(tmp, f"{label}.pth")
                torch.save({"state_dict": d}, path)
                with self.subTest(label), self.assertRaisesRegex(CheckpointError, label):
                    load_hrch(path, heads=4, taps=(0, 1, 2, 3))

    def test_training_objects_beside_the_weights_are_tolerated(self):
        import argparse

        sd, _ = read_checkpoint(os.path.join(FIX, "mini_checkpoint.pth"))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "lightning_like.pth")
            torch.save({"state_dict": sd, "hyper_parameters": argparse.Namespace(lr=1e-3), "epoch": 3}, path)
            got, layout = read_checkpoint(path)
        self.assertEqual(layout, "float")
        self.assertEqual(list(got), list(sd))

    def test_pickles_that_run_code_are_refused_without_running_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            marker = os.path.join(tmp, "pwned")

            class Evil:
                def __reduce__(self):
                    return (os.mkdir, (marker,))

            path = os.path.join(tmp, "evil.pth")
            # Plain, and beside a quantised tensor (the path torch 1.13's weights_only loader can't take).
            for payload in ({"state_dict": {"x": Evil()}},
                            {"w": (torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8), Evil())}):
                torch.save(payload, path)
                with self.assertRaises(CheckpointError):
                    read_checkpoint(path)
                self.assertFalse(os.path.exists(marker))
            torch.save({"state_dict": {"x": Evil()}}, path)
            with self.assertRaisesRegex(CheckpointError, "'x' is not a tensor but opaque posix.mkdir"):
                read_checkpoint(path)
            with self.assertRaisesRegex(CheckpointError, "no such file"):
                read_checkpoint(os.path.join(tmp, "absent.pth"))


if __name__ == "__main__":
    unittest.main()
