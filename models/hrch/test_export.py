"""ONNX export and manifest writing (the numbers through onnxruntime are checked by
server/model/session.test.ts on the committed models/hrch-mini)."""
import json
import os
import tempfile
import unittest

import onnx
import torch

from models.hrch.checkpoint import load_hrch
from models.hrch.export import export_onnx, sha256_file
from models.hrch.manifest import hrch_manifest_fields

torch.set_num_threads(2)
FIX = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "hrch")
HAVE = os.path.isdir(FIX)
MINI_DIR = os.path.join(os.path.dirname(__file__), "..", "hrch-mini")


@unittest.skipUnless(HAVE, f"HRCH fixtures missing at {FIX}")
class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model, cls.cfg, cls.layout = load_hrch(os.path.join(FIX, "mini_checkpoint.pth"), heads=4, taps=(0, 1, 2, 3))

    def fields(self, **kw):
        return hrch_manifest_fields(self.cfg, name="mini-export", test_fixture=True, layout=self.layout, **kw)

    def test_graph_has_dynamic_batch_and_size_and_a_complete_manifest(self):
        with tempfile.TemporaryDirectory() as tmp:
            manifest = export_onnx(self.model, tmp, self.fields())
            proto = onnx.load(os.path.join(tmp, "model.onnx"))
            dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
            self.assertEqual(dims, ["batch", 3, "height", "width"])
            self.assertEqual(proto.graph.output[0].name, "height")
            with open(os.path.join(tmp, "manifest.json")) as f:
                written = json.load(f)
            self.assertEqual(written, manifest)
            self.assertEqual(written["onnx"]["sha256"], sha256_file(os.path.join(tmp, "model.onnx")))
            self.assertEqual(written["input"]["mean"], [0.420, 0.411, 0.296])
            self.assertEqual((written["tiling"]["stride"], written["tiling"]["window"]), (192, "apodization"))
            self.assertEqual(written["output"], {"units": "m", "scale": 10.0, "offset": 0.0, "relu": True, "bakedIn": False})
            self.assertTrue(written["testFixture"])
            self.assertTrue(any("0.420" in n for n in written["notes"]))
            self.assertNotIn("externalData", written["onnx"])

    def test_external_data_for_large_graphs(self):
        with tempfile.TemporaryDirectory() as tmp:
            manifest = export_onnx(self.model, tmp, self.fields(norm="notebook"), external_data=True)
            self.assertEqual(manifest["onnx"]["externalData"], "model.onnx.data")
            self.assertEqual(sorted(os.listdir(tmp)), ["manifest.json", "model.onnx", "model.onnx.data"])
            # the 1.8 MB of weights live in the data file; the graph keeps small traced constants
            # (the fused bin expectation's 16 x 256 kernel among them)
            self.assertLess(os.path.getsize(os.path.join(tmp, "model.onnx")), 300_000)
            self.assertGreater(os.path.getsize(os.path.join(tmp, "model.onnx.data")), 1_500_000)
            proto = onnx.load(os.path.join(tmp, "model.onnx"))  # resolves the data file beside it
            self.assertTrue(any(t.name and len(t.raw_data) > 0 for t in proto.graph.initializer))
            self.assertEqual(manifest["input"]["mean"][0], 0.430)

    def test_manifest_fields_are_required(self):
        fields = self.fields()
        del fields["tiling"]
        with tempfile.TemporaryDirectory() as tmp, self.assertRaisesRegex(ValueError, "tiling"):
            export_onnx(self.model, tmp, fields)

    def test_committed_mini_model_is_marked_as_a_fixture(self):
        with open(os.path.join(MINI_DIR, "manifest.json")) as f:
            m = json.load(f)
        self.assertTrue(m["testFixture"])
        self.assertNotIn("default", m)
        self.assertIn("RANDOM WEIGHTS", m["description"])
        self.assertEqual(m["onnx"]["sha256"], sha256_file(os.path.join(MINI_DIR, m["onnx"]["file"])))


if __name__ == "__main__":
    unittest.main()
