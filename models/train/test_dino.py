"""Fast unit tests of the DINOv2 machinery (tiny tensors, no backbone, no data files)."""
import unittest

import numpy as np
import torch

from models.train import dino
from models.train import data as D


class Schedules(unittest.TestCase):
    def test_cosine_endpoints_and_monotone(self):
        vals = [dino.cosine(0.994, 1.0, s, 100) for s in range(101)]
        self.assertAlmostEqual(vals[0], 0.994)
        self.assertAlmostEqual(vals[-1], 1.0)
        self.assertTrue(all(b >= a for a, b in zip(vals, vals[1:])))
        self.assertAlmostEqual(dino.cosine(0.04, 0.2, 50, 100), 0.12)

    def test_warmup_then_decay(self):
        lr = [dino.warmup_cosine(1e-3, 1e-6, 10, s, 100) for s in range(100)]
        self.assertAlmostEqual(lr[9], 1e-3)
        self.assertLess(lr[0], lr[5])
        self.assertGreater(lr[10], lr[99])
        self.assertAlmostEqual(lr[99], 1e-6, delta=1e-6)


class SinkhornKnopp(unittest.TestCase):
    def test_rows_are_distributions_and_prototypes_used_equally(self):
        torch.manual_seed(0)
        logits = torch.randn(64, 8) * 3 + torch.arange(8.0)  # strongly biased towards the last prototype
        q = dino.sinkhorn_knopp(logits, temp=1.0, iterations=50)
        self.assertTrue(torch.allclose(q.sum(1), torch.ones(64), atol=1e-4))
        usage = q.sum(0) / 64
        self.assertTrue(torch.allclose(usage, torch.full((8,), 1 / 8), atol=1e-2), usage)
        plain = torch.softmax(logits / 1.0, dim=1).sum(0) / 64
        self.assertGreater(float(plain.max()), 0.3)  # without centering one prototype dominates


class Losses(unittest.TestCase):
    def test_dino_loss_skips_same_view_and_is_lower_when_matched(self):
        t = [torch.softmax(torch.randn(4, 16) * 5, 1) for _ in range(2)]
        matched = [torch.log(t[1]) * 0.1, torch.log(t[0]) * 0.1]  # view 0 predicts teacher view 1
        random_ = [torch.randn(4, 16), torch.randn(4, 16)]
        self.assertLess(float(dino.dino_loss(matched, t)), float(dino.dino_loss(random_, t)))

    def test_koleo_penalises_collapsed_features(self):
        torch.manual_seed(0)
        spread = torch.randn(32, 8)
        collapsed = torch.randn(1, 8).repeat(32, 1) + 1e-3 * torch.randn(32, 8)
        self.assertLess(float(dino.koleo_loss(spread)), float(dino.koleo_loss(collapsed)))

    def test_ibot_loss_empty_mask_is_zero_with_grad(self):
        s = torch.zeros(0, 8, requires_grad=True)
        loss = dino.ibot_loss(s, torch.zeros(0, 8))
        self.assertEqual(float(loss), 0.0)
        loss.backward()

    def test_ema_moves_teacher_towards_student(self):
        a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
        before = (a.weight - b.weight).abs().sum().item()
        dino.ema_update(a, b, 0.9)
        self.assertLess((a.weight - b.weight).abs().sum().item(), before)


class Crops(unittest.TestCase):
    def test_multicrop_shapes_and_determinism(self):
        img = torch.rand(3, 96, 96)
        mc = dino.MultiCrop(global_size=32, local_size=16, n_local=3)
        g1, l1 = mc(img, torch.Generator().manual_seed(1))
        g2, l2 = mc(img, torch.Generator().manual_seed(1))
        self.assertEqual([tuple(x.shape) for x in g1], [(3, 32, 32)] * 2)
        self.assertEqual([tuple(x.shape) for x in l1], [(3, 16, 16)] * 3)
        self.assertTrue(all(torch.equal(a, b) for a, b in zip(g1 + l1, g2 + l2)))
        self.assertFalse(torch.equal(g1[0], g1[1]))

    def test_block_masks_ratio(self):
        m = dino.block_masks(20, 8, torch.Generator().manual_seed(0), ratio=(0.1, 0.5), prob=1.0)
        frac = m.float().mean(1)
        self.assertTrue(bool((frac >= 0.09).all()), frac)
        self.assertTrue(bool((frac <= 0.8).all()), frac)


class DataHelpers(unittest.TestCase):
    def test_tile_origins_cover(self):
        self.assertEqual(D.tile_origins(100, 256, 192), [0])
        o = D.tile_origins(500, 256, 192)
        self.assertEqual(o, [0, 192, 244])

    def test_patch_means(self):
        chm = np.arange(16, dtype=np.float32).reshape(4, 4)
        mask = np.ones((4, 4), bool)
        mask[0, 0] = False
        m, f = D.patch_means(chm, mask, 2)
        self.assertAlmostEqual(m[0, 0], (1 + 4 + 5) / 3)
        self.assertAlmostEqual(f[0, 0], 0.75)
        self.assertAlmostEqual(m[1, 1], (10 + 11 + 14 + 15) / 4)

    def test_pad_to(self):
        a = np.ones((3, 5), np.float32)
        p = D.pad_to(a, 8, 8, 'constant')
        self.assertEqual(p.shape, (8, 8))
        self.assertTrue(np.isnan(p[7, 7]))


if __name__ == '__main__':
    unittest.main()
