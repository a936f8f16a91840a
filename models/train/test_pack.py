"""Tests of the GPU path's pieces: packed plots, draw shares, the worker-fed streams, head-only
checkpoints, leave-one-out scoring and step calibration. Small synthetic arrays, no GDAL."""
import json
import os
import tempfile
import unittest

import numpy as np
import torch

from models.train import data as D
from models.train.arch import build_canopy_model
from models.train.test_train import tiny_cfg


def plot(name, size=40, chm=True, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (size, size, 3)).astype(np.uint8)
    h = rng.uniform(0, 30, (size, size)).astype(np.float32) if chm else None
    if h is not None:
        h[:3, :3] = np.nan
    return D.Plot(name=name, rgb=rgb, valid=np.ones((size, size), bool), chm=h,
                  geotransform=(500000.0, 0.5, 0.0, 4000000.0, 0.0, -0.5), wkt='EPSG:32611', source='x.tif')


def write_pack(root, roles):
    index = {r: [] for r in D.PACK_ROLES}
    for role, plots in roles.items():
        for p in plots:
            f = f'{role}.{p.name}.npz'
            D.save_plot(os.path.join(root, f), p)
            index[role].append(f)
    with open(os.path.join(root, 'pack.json'), 'w') as fh:
        json.dump(index, fh)


class PackedPlots(unittest.TestCase):
    def test_round_trip_keeps_imagery_grid_and_heights_to_a_centimetre(self):
        p = plot('SJER_052')
        with tempfile.TemporaryDirectory() as d:
            D.save_plot(os.path.join(d, 'p.npz'), p)
            q = D.load_plot(os.path.join(d, 'p.npz'))
        self.assertEqual((q.name, q.wkt, q.source), ('SJER_052', 'EPSG:32611', 'x.tif'))
        np.testing.assert_array_equal(q.rgb, p.rgb)
        np.testing.assert_array_equal(q.valid, p.valid)
        self.assertEqual(tuple(q.geotransform), tuple(p.geotransform))
        np.testing.assert_array_equal(np.isnan(q.chm), np.isnan(p.chm))
        self.assertLess(float(np.nanmax(np.abs(q.chm - p.chm))), 0.02)
        self.assertEqual(q.labelled.sum(), p.labelled.sum())

    def test_unlabelled_plot_stays_unlabelled_and_roles_are_checked(self):
        with tempfile.TemporaryDirectory() as d:
            write_pack(d, {'imagery': [plot('OSBS', chm=False)]})
            (q,) = D.load_pack(d, 'imagery')
            self.assertIsNone(q.chm)
            self.assertEqual(D.load_pack(d, 'real_pairs'), [])
            with self.assertRaisesRegex(ValueError, 'unknown pack role'):
                D.load_pack(d, 'labels')


class DrawShares(unittest.TestCase):
    def test_real_plots_get_their_share_whatever_their_area(self):
        prob = D.draw_probabilities(['scene_1', 'scene_2', 'SJER', 'autzen'], [100, 300, 1, 3], 0.3)
        self.assertAlmostEqual(float(prob.sum()), 1.0)
        self.assertAlmostEqual(float(prob[2] + prob[3]), 0.3)
        self.assertAlmostEqual(float(prob[1] / prob[0]), 3.0)
        self.assertAlmostEqual(float(prob[3] / prob[2]), 3.0)

    def test_only_one_kind_is_plain_area(self):
        np.testing.assert_allclose(D.draw_probabilities(['scene_1', 'scene_2'], [1, 3], 0.3), [0.25, 0.75])


class Streams(unittest.TestCase):
    def test_ssl_stream_yields_views_and_masks_reproducibly(self):
        from models.train.dino import MultiCrop
        from models.train.pretrain_dino import ImagePool, SSLStream
        pool = ImagePool([plot('scene_a', 64), plot('OSBS', 64, chm=False)], 48)
        crops = MultiCrop(32, 16, 2)
        a = next(iter(SSLStream(pool, crops, 2, seed=3, step=10)))
        b = next(iter(SSLStream(pool, crops, 2, seed=3, step=10)))
        c = next(iter(SSLStream(pool, crops, 2, seed=3, step=11)))
        self.assertEqual(tuple(a[0].shape), (2, 3, 32, 32))
        self.assertEqual(tuple(a[1].shape), (2, 3, 16, 16))
        self.assertEqual(tuple(a[2].shape), (2, 4))
        self.assertTrue(torch.equal(a[0], b[0]))
        self.assertFalse(torch.equal(a[0], c[0]))  # a resumed run continues, not repeats

    def test_head_stream_tiles_and_exclusion(self):
        from models.train.train_head import TileStream, packed_labelled_plots
        with tempfile.TemporaryDirectory() as d:
            write_pack(d, {'train_scenes': [plot('scene_512_1')], 'real_pairs': [plot('SJER_052', seed=1), plot('JERC_049', seed=2)]})
            plots = packed_labelled_plots(d, ['SJER_052'])
            self.assertEqual([p.name for p in plots], ['scene_512_1', 'JERC_049'])
            with self.assertRaisesRegex(ValueError, 'NOPE'):
                packed_labelled_plots(d, ['NOPE'])
        x, y, m = next(iter(TileStream(plots, np.array([0.5, 0.5]), 32, seed=0, step=0)))
        self.assertEqual((tuple(x.shape), tuple(y.shape), tuple(m.shape)), ((3, 32, 32), (32, 32), (32, 32)))
        self.assertEqual(x.dtype, torch.float32)
        self.assertTrue(bool(m.any()))


class Checkpoints(unittest.TestCase):
    def test_head_only_checkpoint_loads_onto_its_backbone_and_refuses_a_foreign_one(self):
        from models.train.train_head import load_model
        torch.manual_seed(0)
        model = build_canopy_model(tiny_cfg())
        with tempfile.TemporaryDirectory() as d:
            bb, hd, bad = (os.path.join(d, f) for f in ('bb.pt', 'head.pt', 'bad.pt'))
            torch.save({'backbone': model.backbone.state_dict(), 'arch': tiny_cfg().to_dict()}, bb)
            head = {k: v for k, v in model.state_dict().items() if not k.startswith('backbone.')}
            torch.save({'model': head}, hd)
            loaded = load_model(bb, hd)
            for k, v in model.state_dict().items():
                self.assertTrue(torch.equal(loaded.state_dict()[k], v), k)
            torch.save({'model': {'decode_head.nonsense': torch.zeros(1)}}, bad)
            with self.assertRaisesRegex(ValueError, 'does not fit'):
                load_model(bb, bad)


class LeaveOneOutScoring(unittest.TestCase):
    def test_a_named_plot_gets_the_head_and_baselines_without_it(self):
        from models.train.report import LeaveOneOut
        loo = LeaveOneOut('bb.pt', {'final': 'f.pt', 'SJER_052': 's.pt'},
                          [plot('scene_1', seed=1), plot('SJER_052', seed=2)], seed=0)
        self.assertEqual(loo.key(plot('SJER_052')), 'SJER_052')
        self.assertEqual(loo.key(plot('Kootenay')), 'final')
        sjer = plot('SJER_052', seed=2)
        self.assertAlmostEqual(loo.baseline(sjer)[0], float(np.nanmean(plot('scene_1', seed=1).chm)), places=3)
        both = np.concatenate([plot('scene_1', seed=1).chm.ravel(), plot('SJER_052', seed=2).chm.ravel()])
        self.assertAlmostEqual(loo.baseline(plot('Kootenay'))[0], float(np.nanmean(both)), places=3)


class GpuSessionFolder(unittest.TestCase):
    def test_missing_leave_one_out_head_is_named(self):
        from models.train import train
        with tempfile.TemporaryDirectory() as d:
            pack, session = os.path.join(d, 'pack'), os.path.join(d, 'session')
            os.makedirs(pack)
            os.makedirs(os.path.join(session, 'heads'))
            write_pack(pack, {'real_pairs': [plot('SJER_052')]})
            with open(os.path.join(session, 'session.json'), 'w') as fh:
                json.dump({}, fh)
            open(os.path.join(session, 'heads', 'final.pt'), 'w').close()
            with self.assertRaisesRegex(SystemExit, 'without_SJER_052.pt'):
                train.main(['--gpu-session', session, '--pack', pack, '--work', os.path.join(d, 'work')])


class Calibration(unittest.TestCase):
    def test_seconds_per_step_skips_warm_up(self):
        from models.train.gpu_session import seconds_per_step
        log = [{'step': s, 'sec': 10.0 + 0.5 * s if s > 5 else 2.0 * s} for s in range(1, 21)]
        self.assertAlmostEqual(seconds_per_step(log, 5), 0.5)
        with self.assertRaisesRegex(RuntimeError, 'too few'):
            seconds_per_step(log[:6], 5)


if __name__ == '__main__':
    unittest.main()
