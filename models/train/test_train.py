"""Fast tests of the training steps on a tiny instance of the real architecture (models/hrch)."""
import unittest

import numpy as np
import torch

from models.train import data as D
from models.train.arch import ArchConfig, build_canopy_model, encode, metres
from models.train.dino import block_masks
from models.train.evaluate import TextureRegression, compare, pixel_features
from models.train.pretrain_dino import Model, ssl_losses
from models.train.probe import fit_ridge, scores

def tiny_cfg():
    # out_indices must be strictly increasing block indices: use depth 4 with every block tapped.
    return ArchConfig(embed_dim=32, depth=4, num_heads=2, out_indices=[0, 1, 2, 3],
                      post_process_channels=[4, 8, 16, 32], head_channels=8, drop_path_rate=0.1)


class SSLStep(unittest.TestCase):
    def test_losses_backprop_into_backbone_and_mask_token(self):
        torch.manual_seed(0)
        cfg = tiny_cfg()
        student, teacher = Model(cfg, 16, 0.1), Model(cfg, 16, 0.0)
        teacher.load_state_dict(student.state_dict())
        glob = torch.randn(4, 3, 32, 32)  # B = 2, two global crops
        loc = torch.randn(4, 3, 16, 16)  # two local crops
        masks = block_masks(4, 2, torch.Generator().manual_seed(0), prob=1.0, ratio=(0.25, 0.5))
        self.assertTrue(bool(masks.any()))
        loss, parts = ssl_losses(student, teacher, glob, loc, masks, 0.04)
        self.assertTrue(torch.isfinite(loss))
        self.assertEqual(set(parts), {'dino', 'ibot', 'koleo'})
        self.assertGreater(parts['ibot'], 0)
        loss.backward()
        self.assertGreater(float(student.backbone.patch_embed.proj.weight.grad.abs().sum()), 0)
        self.assertGreater(float(student.backbone.mask_token.grad.abs().sum()), 0)
        self.assertTrue(all(p.grad is None for p in teacher.parameters()))

    def test_layerscale_init(self):
        cfg = tiny_cfg()
        m = Model(cfg, 16, 0.0)
        self.assertTrue(torch.allclose(m.backbone.blocks[0].ls1.gamma, torch.full((32,), 1e-5)))


class CanopyModel(unittest.TestCase):
    def test_metres_shape_and_range(self):
        torch.manual_seed(0)
        model = build_canopy_model(tiny_cfg()).eval()
        with torch.no_grad():
            y = metres(model, torch.randn(2, 3, 64, 64))
        self.assertEqual(tuple(y.shape), (2, 1, 64, 64))
        self.assertTrue(bool((y >= 0).all() and (y <= 100).all()))

    def test_encode_masks_change_tokens(self):
        torch.manual_seed(0)
        bb = build_canopy_model(tiny_cfg()).backbone.eval()
        x = torch.randn(1, 3, 32, 32)
        nn_mask = torch.tensor([[True, False, False, False]])
        bb.mask_token.data.fill_(3.0)
        _, p0 = encode(bb, x)
        _, p1 = encode(bb, x, nn_mask)
        self.assertFalse(torch.allclose(p0, p1))


class HeadTraining(unittest.TestCase):
    def test_bins_bias_starts_near_mean_and_loss_trains_head_only(self):
        from models.train.train_head import height_loss, init_bins_bias
        torch.manual_seed(0)
        model = build_canopy_model(tiny_cfg()).eval()
        model.backbone.requires_grad_(False)
        init_bins_bias(model.decode_head, 20.0)
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            start = metres(model, x)
        # The 0.1 floor on every bin pulls towards the 50 m midpoint; without the bump it would be 50.
        self.assertLess(abs(float(start.mean()) - 20.0), 8.0)
        y = torch.full((2, 32, 32), 12.0)
        mask = torch.ones(2, 32, 32, dtype=torch.bool)
        opt = torch.optim.AdamW(model.decode_head.parameters(), lr=1e-3)
        first = None
        for _ in range(15):
            loss = height_loss(model, x, y, mask)
            first = first if first is not None else float(loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.assertLess(float(loss), first)
        self.assertTrue(all(p.grad is None for p in model.backbone.parameters()))


class ProbeAndBaselines(unittest.TestCase):
    def test_ridge_recovers_linear_map(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(500, 6))
        y = x @ np.array([1.0, -2.0, 0.5, 0, 0, 3.0]) + 4.0
        pred = fit_ridge(x[:400], y[:400], lam=1e-3)(x[400:])
        s = scores(pred, y[400:])
        self.assertGreater(s['r2'], 0.999)
        self.assertLess(abs(s['bias']), 0.01)

    def test_texture_regression_beats_mean_on_colour_coded_heights(self):
        rng = np.random.default_rng(1)
        rgb = rng.integers(0, 255, size=(40, 40, 3)).astype(np.uint8)
        chm = (rgb[..., 1].astype(np.float32) / 255) * 20  # height follows green
        plot = D.Plot('t', rgb, np.ones((40, 40), bool), chm)
        self.assertEqual(pixel_features(rgb).shape, (40, 40, 13))
        res = compare([plot], {'tex': TextureRegression([plot]), 'mean': lambda p: np.full((40, 40), 10, np.float32)})
        self.assertGreater(res['tex']['r2'], 0.99)
        self.assertLess(res['tex']['mae'], res['mean']['mae'])


if __name__ == '__main__':
    unittest.main()
