"""MAD-Loss on hand-made tensors: asymmetry, lead weighting, epoch schedule."""
import unittest

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

if torch is not None:
    from impa.madloss import (MADLossConfig, mad_loss, mse_loss, schedule, intensity_weight,
                              soft_csi_loss)


def _pair(obs_dbz, err_dbz, lead=0, t_out=4, scale=70.0):
    """One-pixel-error fields [1, t_out, 4, 4]: obs everywhere, pred = obs
    except err_dbz at (lead, 1, 1)."""
    target = torch.full((1, t_out, 4, 4), obs_dbz / scale)
    pred = target.clone()
    pred[0, lead, 1, 1] += err_dbz / scale
    return pred, target


@unittest.skipIf(torch is None, "torch missing")
class TestMADLoss(unittest.TestCase):
    def setUp(self):
        self.cfg = MADLossConfig()

    def test_under_costs_more_than_over_at_50dbz(self):
        under = mad_loss(*_pair(50.0, -10.0), progress=1.0, cfg=self.cfg)
        over = mad_loss(*_pair(50.0, +10.0), progress=1.0, cfg=self.cfg)
        self.assertGreater(under.item(), over.item())
        # >= 50 dBZ: asymmetry factor is exactly 1 + asym = 2
        self.assertAlmostEqual(under.item() / over.item(), 2.0, places=4)

    def test_dry_pixel_is_symmetric(self):
        under = mad_loss(*_pair(5.0, -3.0), progress=1.0, cfg=self.cfg)
        over = mad_loss(*_pair(5.0, +3.0), progress=1.0, cfg=self.cfg)
        self.assertAlmostEqual(under.item(), over.item(), places=6)

    def test_intense_costs_more_than_weak(self):
        strong = mad_loss(*_pair(47.0, 5.0), progress=1.0, cfg=self.cfg)
        weak = mad_loss(*_pair(25.0, 5.0), progress=1.0, cfg=self.cfg)
        self.assertAlmostEqual(strong.item() / weak.item(), 8.0 / 2.0, places=4)

    def test_brackets(self):
        w = intensity_weight(torch.tensor([0.0, 19.9, 20.0, 35.0, 44.9, 45.0, 50.0, 60.0]), self.cfg)
        self.assertEqual(w.tolist(), [1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 10.0])

    def test_later_lead_weighs_more(self):
        early = mad_loss(*_pair(30.0, 5.0, lead=0), progress=1.0, cfg=self.cfg)
        late = mad_loss(*_pair(30.0, 5.0, lead=3), progress=1.0, cfg=self.cfg)
        self.assertGreater(late.item(), early.item())
        # lead weights 1..2 (before the mean-1 scaling): last / first = 2
        self.assertAlmostEqual(late.item() / early.item(), 2.0, places=4)

    def test_schedule_start_is_plain_loss(self):
        pred, target = _pair(50.0, -10.0, lead=2)
        e = pred - target
        plain = (e.abs() + e * e).mean()
        self.assertEqual(schedule(0.0, self.cfg), 0.0)
        self.assertAlmostEqual(mad_loss(pred, target, 0.0, self.cfg).item(), plain.item(), places=7)

    def test_schedule_end_is_full_weighting(self):
        pred, target = _pair(50.0, -10.0, lead=2, t_out=4)
        e = (pred - target)[0, 2, 1, 1]
        per = e.abs() + e * e
        lead_w = torch.tensor([1.0, 4 / 3, 5 / 3, 2.0])
        lead_w = lead_w / lead_w.mean()
        expect = per * 10.0 * 2.0 * lead_w[2] / (4 * 4 * 4)
        self.assertEqual(schedule(1.0, self.cfg), 1.0)
        got = mad_loss(pred, target, 1.0, self.cfg)
        self.assertAlmostEqual(got.item(), expect.item(), places=6)
        # midway is strictly between plain and full
        mid = mad_loss(pred, target, 0.35, self.cfg).item()
        self.assertGreater(mid, mad_loss(pred, target, 0.0, self.cfg).item())
        self.assertLess(mid, got.item())

    def test_mask_excludes_missing(self):
        pred, target = _pair(50.0, -10.0)
        mask = torch.ones_like(target, dtype=torch.bool)
        mask[0, 0, 1, 1] = False
        self.assertEqual(mad_loss(pred, target, 1.0, self.cfg, mask).item(), 0.0)
        self.assertEqual(mse_loss(pred, target, mask).item(), 0.0)

    def test_gradient_flows(self):
        pred, target = _pair(40.0, -8.0)
        pred.requires_grad_(True)
        mad_loss(pred, target, 1.0, self.cfg).backward()
        g = pred.grad[0, 0, 1, 1].item()
        self.assertLess(g, 0.0)  # under-forecast: gradient pushes pred up


def _field(cells, t_out=2, n=16, base=5.0, scale=70.0):
    """[1, t_out, n, n] normalised field of base dBZ with (y0, y1, x0, x1, dBZ) cells."""
    a = torch.full((1, t_out, n, n), base)
    for y0, y1, x0, x1, v in cells:
        a[:, :, y0:y1, x0:x1] = v
    return a / scale


@unittest.skipIf(torch is None, "torch missing")
class TestSoftCSI(unittest.TestCase):
    def setUp(self):
        self.cfg = MADLossConfig()

    def test_perfect_forecast_costs_almost_nothing(self):
        obs = _field([(4, 8, 4, 8, 55.0)])
        self.assertLess(soft_csi_loss(obs, obs, self.cfg, (45.0,), 1.0).item(), 0.01)

    def test_larger_area_costs_more(self):
        """The term sees the frequency bias that a pixel loss cannot: the same
        correct core plus a false-alarm ring scores worse than the core alone."""
        obs = _field([(4, 8, 4, 8, 50.0)])
        core = soft_csi_loss(obs, obs, self.cfg, (45.0,), 1.0)
        ring = _field([(2, 10, 2, 10, 50.0)])
        self.assertGreater(soft_csi_loss(ring, obs, self.cfg, (45.0,), 1.0).item(),
                           core.item() + 0.3)

    def test_miss_costs_one(self):
        obs = _field([(4, 8, 4, 8, 50.0)])
        dry = _field([])
        self.assertAlmostEqual(soft_csi_loss(dry, obs, self.cfg, (45.0,), 1.0).item(),
                               1.0 - 1.0 / 17.0, places=3)  # (0 + 1) / (16 + 1)

    def test_nothing_forecast_nothing_observed_costs_nothing(self):
        dry = _field([])
        self.assertAlmostEqual(soft_csi_loss(dry, dry, self.cfg).item(), 0.0, places=4)

    def test_mask_and_gradient(self):
        obs = _field([(4, 8, 4, 8, 50.0)])
        pred = _field([(4, 8, 4, 8, 44.0)]).requires_grad_(True)
        mask = torch.ones_like(obs, dtype=torch.bool)
        mask[..., 4:8, 4:8] = False   # the only event is masked out: nothing to score
        self.assertAlmostEqual(soft_csi_loss(pred, obs, self.cfg, (45.0,), 2.0, mask).item(),
                               0.0, places=2)
        soft_csi_loss(pred, obs, self.cfg, (45.0,), 2.0).backward()
        self.assertLess(float(pred.grad[0, 0, 5, 5]), 0.0)  # raise the under-forecast core

    def test_bad_arguments(self):
        obs = _field([])
        with self.assertRaises(ValueError):
            soft_csi_loss(obs[0], obs[0], self.cfg)
        with self.assertRaises(ValueError):
            soft_csi_loss(obs, obs, self.cfg, (45.0,), 0.0)


if __name__ == "__main__":
    unittest.main()
