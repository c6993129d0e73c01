"""Unit tests of the PyTorch reference (impa.config, impa.model, impa.weights).

Run: cd train && /usr/bin/python3 -m unittest discover -s tests -t .
(meson: suite 'python'). Exits 77 (meson's skip) when torch or netCDF4 is missing.
"""
import os
import re
import sys
import tempfile
import unittest

try:
    import netCDF4
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - exercised on machines without torch
    print(f"SKIP: {e}: the Python reference tests need torch, numpy and netCDF4")
    sys.stdout.flush()
    # unittest's loader swallows SystemExit raised at import: leave directly.
    os._exit(77)

from impa.config import ConfigError, ImpaConfig
from impa.model import (ImpaNet, count_flops, denormalise, derive_precip_rate,
                        expected_shapes, init_nontrivial, normalise, spatial_mixer,
                        spatial_unmixer)
from impa import weights

SRC_ROOT = os.environ.get("IMPA_SOURCE_ROOT",
                          os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

torch.set_num_threads(1)

SMALL = dict(t_in=3, t_out=4, hid_s=8, hid_t=16, n_blocks=2, branch_kernels=[3, 5],
             branch_dilations=[1, 2])


def small_cfg(**kw):
    d = dict(SMALL)
    d.update(kw)
    return ImpaConfig().replace(**d)


# ---------------------------------------------------------------------------
# An independent functional forward written from docs/model.md, step by step,
# reading the state_dict by name. It shares no code with ImpaNet.forward.
# ---------------------------------------------------------------------------
def doc_forward(sd, cfg, x):
    """x: [Tin, C, H, W] -> [Tout, H, W] (float64)."""
    W = {k: v.double() for k, v in sd.items()}
    x = x.double()
    tin, c, h, w = x.shape
    s, g, eps = cfg.hid_s, cfg.norm_groups, cfg.gn_eps

    def conv(name, a, stride=1, pad=0, dil=1, groups=1):
        return F.conv2d(a, W[name + ".weight"], W[name + ".bias"], stride=stride,
                        padding=pad, dilation=dil, groups=groups)

    def gn(name, a):
        if not cfg.norm_local:
            return F.group_norm(a, g, W[name + ".weight"], W[name + ".bias"], eps)
        # norm_local: statistics of each group's channels at each pixel
        out = torch.empty_like(a)
        n = a.shape[1] // g
        for k in range(g):
            blk = a[:, k * n:(k + 1) * n]
            mu = blk.sum(dim=1, keepdim=True) / n
            var = ((blk - mu) ** 2).sum(dim=1, keepdim=True) / n
            out[:, k * n:(k + 1) * n] = (blk - mu) / torch.sqrt(var + eps)
        return out * W[name + ".weight"].view(1, -1, 1, 1) + W[name + ".bias"].view(1, -1, 1, 1)

    def se_input(a):
        if not cfg.se_window:
            return a.mean(dim=(2, 3), keepdim=True)
        # window sums of the values and of the in-grid pixel counts, as
        # convolutions with a ones kernel over the zero-padded grid
        k = cfg.se_window
        ones = torch.ones(a.shape[1], 1, k, k, dtype=a.dtype)
        sums = F.conv2d(a, ones, padding=k // 2, groups=a.shape[1])
        cnt = F.conv2d(torch.ones_like(a[:, :1]), ones[:1], padding=k // 2)
        return sums / cnt

    def silu(a):
        return a * torch.sigmoid(a)

    xm = x
    if cfg.spatial_mixer:
        # written from the "net effect" sentence of the spec, pixel by pixel
        xm = torch.empty_like(x)
        for cp in range(c):
            for k in range(4):
                j = cp * 4 + k
                dy, dx = k // 2, k % 2
                sy, sx = (j // c) // 2, (j // c) % 2
                xm[:, cp, dy::2, dx::2] = x[:, j % c, sy::2, sx::2]
    e0 = silu(gn("enc.0.norm", conv("enc.0.conv", xm, pad=1)))
    z = silu(gn("enc.1.norm", conv("enc.1.conv", e0, stride=2, pad=1)))
    z = silu(gn("enc.2.norm", conv("enc.2.conv", z, stride=2, pad=1)))
    lh, lw = z.shape[-2:]
    u = z.reshape(1, tin * s, lh, lw)
    u = conv("trans.inp", u)
    for i in range(cfg.n_blocks):
        p = f"trans.blocks.{i}."
        a = gn(p + "norm1", u)
        v = silu(conv(p + "attn.v", a))
        acc = 0
        for j, (k, d) in enumerate(zip(cfg.branch_kernels, cfg.branch_dilations)):
            acc = acc + conv(p + f"attn.branches.{j}", v, pad=d * (k - 1) // 2, dil=d,
                             groups=cfg.hid_t)
        m = conv(p + "attn.fuse", acc)
        u = u + conv(p + "attn.proj", v * torch.sigmoid(m))
        cc = gn(p + "norm2", u)
        gate = torch.sigmoid(conv(p + "se.fc2", silu(conv(p + "se.fc1", se_input(cc)))))
        u = u + cc * gate
        q = gn(p + "norm3", u)
        hmid = conv(p + "mlp.dw", conv(p + "mlp.fc1", q), pad=1, groups=cfg.mlp_hidden)
        hmid = 0.5 * hmid * (1.0 + torch.erf(hmid / np.sqrt(2.0)))
        u = u + conv(p + "mlp.fc2", hmid)
    u = conv("trans.out", u).reshape(cfg.t_out, s, lh, lw)
    ys = []
    for t in range(cfg.t_out):
        d = u[t:t + 1]
        d = silu(gn("dec.0.norm", F.pixel_shuffle(conv("dec.0.conv", d, pad=1), 2)))
        d = silu(gn("dec.1.norm", F.pixel_shuffle(conv("dec.1.conv", d, pad=1), 2)))
        d = d + e0[tin - 1:tin]
        d = silu(gn("dec.2.norm", conv("dec.2.conv", d, pad=1)))
        y = conv("readout", d)[0, 0]
        if cfg.residual:
            y = y + x[tin - 1, 0]
        ys.append(y)
    return torch.stack(ys)


class TestConfig(unittest.TestCase):
    def test_defaults_are_shipped_defaults(self):
        c = ImpaConfig().validate()
        self.assertEqual(c.fields, ["reflectivity", "precip_rate", "terrain", "wind850"])
        self.assertEqual(c.norm_transform, ["linear", "log10p1", "linear", "linear"])
        self.assertEqual(c.norm_scale, [70.0, 2.0, 3000.0, 20.0])
        self.assertEqual(c.norm_min, [0.0, 0.0, -0.1, -1.0])
        self.assertEqual((c.t_in, c.t_out, c.step_minutes, c.hid_s, c.hid_t, c.n_blocks),
                         (4, 12, 10, 16, 64, 2))
        self.assertEqual((c.norm_groups, c.se_reduction, c.mlp_ratio), (4, 4, 2))
        self.assertEqual((c.branch_kernels, c.branch_dilations), ([3, 5, 7], [1, 2, 3]))
        self.assertEqual((c.spatial_mixer, c.residual, c.total_stride), (1, 1, 4))
        self.assertEqual((c.gn_eps, c.zr_a, c.zr_b), (1e-5, 200.0, 1.6))

    def test_dict_round_trip(self):
        c = small_cfg(residual=0)
        d = c.to_dict()
        self.assertEqual(ImpaConfig.from_dict(d), c)
        d2 = dict(d, fields="reflectivity, precip_rate,terrain,wind850",
                  branch_kernels=np.array([3, 5], dtype=np.int32), t_in=np.int32(3))
        self.assertEqual(ImpaConfig.from_dict(d2), c)

    def test_validation_errors(self):
        bad = {
            "norm_groups": dict(norm_groups=3),             # does not divide 16 / 64
            "branch_kernels": dict(branch_kernels=[3, 4, 7]),  # even kernel
            "branch_dilations": dict(branch_dilations=[1, 2]),  # length mismatch
            "se_reduction": dict(se_reduction=5),
            "total_stride": dict(total_stride=2),
            "spatial_mixer": dict(spatial_mixer=2),
            "norm_scale": dict(norm_scale=[70.0, 0.0, 3000.0, 20.0]),
            "norm_transform": dict(norm_transform=["linear", "sqrt", "linear", "linear"]),
            "fields": dict(fields=["precip_rate", "reflectivity", "terrain", "wind850"]),
            "t_in": dict(t_in=0),
            "gn_eps": dict(gn_eps=0.0),
            "norm_local": dict(norm_local=2),
            "se_window": dict(se_window=4),
            "se_window ": dict(se_window=-1),
            "se_window  ": dict(se_window=257),
        }
        for key, change in bad.items():
            with self.subTest(key=key):
                with self.assertRaises(ConfigError) as cm:
                    ImpaConfig().replace(**change)
                self.assertIn(key.split("_")[0], str(cm.exception))
        with self.assertRaisesRegex(ConfigError, "norm_offset: 3 values for 4 fields"):
            ImpaConfig().replace(norm_offset=[0, 0, 0])
        with self.assertRaisesRegex(ConfigError, "unknown hyper-parameter"):
            ImpaConfig.from_dict({"hid_z": 3})
        with self.assertRaisesRegex(ConfigError, "multiples of total_stride"):
            ImpaConfig().check_grid(30, 32)


class TestMixer(unittest.TestCase):
    def test_invertible(self):
        for c in (1, 3, 4, 5):
            x = torch.randn(2, 3, c, 8, 12)
            y = spatial_mixer(x)
            self.assertEqual(y.shape, x.shape)
            self.assertFalse(c > 1 and torch.equal(x, y))
            self.assertTrue(torch.equal(spatial_unmixer(y), x))
            self.assertTrue(torch.equal(spatial_mixer(spatial_unmixer(x)), x))

    def test_every_2x2_block_holds_all_fields(self):
        c, h, w = 4, 8, 12
        # value = field index * 1000 + pixel id: identifies field and origin
        pix = torch.arange(h * w, dtype=torch.float64).reshape(h, w)
        x = torch.stack([f * 1000 + pix for f in range(c)])
        y = spatial_mixer(x)
        for ch in range(c):
            for by in range(0, h, 2):
                for bx in range(0, w, 2):
                    blk = y[ch, by:by + 2, bx:bx + 2].flatten()
                    fields = sorted(int(v) // 1000 for v in blk)
                    self.assertEqual(fields, [0, 1, 2, 3])
                    # values come from the same 2x2 block of the input
                    src = {int(v) % 1000 for v in blk}
                    self.assertTrue(all(divmod(p, w)[0] // 2 == by // 2 and
                                        divmod(p, w)[1] // 2 == bx // 2 for p in src))

    def test_spec_formula(self):
        # mixed channel c' at sub-pixel k' holds field j % C from sub-pixel j // C, j = c'*4+k'
        for c in (2, 3, 4):
            x = torch.randn(c, 6, 10)
            y = spatial_mixer(x)
            for cp in range(c):
                for k in range(4):
                    j = cp * 4 + k
                    src = j // c
                    self.assertTrue(torch.equal(y[cp, k // 2::2, k % 2::2],
                                                x[j % c, src // 2::2, src % 2::2]))


class TestNormalise(unittest.TestCase):
    def test_round_trip_and_edges(self):
        cfg = ImpaConfig()
        dbz = np.array([[[-10.0, 0.0, 23.0, 35.5], [45.0, 70.0, 80.0, np.nan]]], dtype=np.float32)
        xn = normalise(dbz, cfg)
        self.assertEqual(xn.shape, (1, 4, 2, 4))
        self.assertEqual(xn.dtype, np.float32)
        refl = xn[0, 0]
        np.testing.assert_allclose(refl, [[0.0, 0.0, 23 / 70, 35.5 / 70], [45 / 70, 1.0, 1.0, 0.0]],
                                   rtol=1e-6)
        back = denormalise(refl, cfg)
        np.testing.assert_allclose(back[0, 1:], [0.0, 23.0, 35.5], atol=1e-5)
        np.testing.assert_allclose(back[1, :2], [45.0, 70.0], atol=1e-5)
        # precip_rate: Marshall-Palmer, log10(1+R)/2, 0 where NaN or < 0 dBZ
        r23 = (10 ** 2.3 / 200.0) ** (1 / 1.6)
        self.assertAlmostEqual(float(derive_precip_rate(np.float32(23.0), cfg)), r23, places=5)
        self.assertAlmostEqual(float(xn[0, 1, 0, 2]), np.log10(1 + r23) / 2, places=6)
        self.assertEqual(float(xn[0, 1, 0, 0]), 0.0)
        self.assertEqual(float(xn[0, 1, 1, 3]), 0.0)
        self.assertEqual(float(xn[0, 1, 1, 1]), 1.0)  # 70 dBZ: log10(1+R)/2 > 1, clamped
        # statics absent: zeros
        self.assertTrue(np.all(xn[0, 2:] == 0))

    def test_statics_and_torch_agree(self):
        cfg = ImpaConfig()
        rng = np.random.RandomState(0)
        dbz = rng.uniform(-10, 75, size=(4, 8, 8)).astype(np.float32)
        dbz[0, 0, 0] = np.nan
        terrain = rng.uniform(-500, 4000, size=(8, 8)).astype(np.float32)
        wind = rng.uniform(-30, 30, size=(8, 8)).astype(np.float32)
        xn = normalise(dbz, cfg, {"terrain": terrain, "wind850": wind})
        np.testing.assert_allclose(xn[2, 2], np.clip(terrain / 3000, -0.1, 1), rtol=1e-6)
        np.testing.assert_allclose(xn[1, 3], np.clip(wind / 20, -1, 1), rtol=1e-6)
        xt = normalise(torch.from_numpy(dbz), cfg,
                       {"terrain": torch.from_numpy(terrain), "wind850": torch.from_numpy(wind)})
        np.testing.assert_allclose(xt.numpy(), xn, atol=1e-7)
        self.assertEqual(float(denormalise(torch.tensor(1.7), cfg)), 70.0)
        with self.assertRaises(ValueError):
            normalise(dbz, cfg, {"precip_rate": terrain})


class TestModel(unittest.TestCase):
    def test_state_dict_names_and_shapes(self):
        for cfg in (ImpaConfig(), small_cfg()):
            sd = ImpaNet(cfg).state_dict()
            exp = expected_shapes(cfg)
            self.assertEqual(list(sd), list(exp))
            for k, v in sd.items():
                self.assertEqual(tuple(v.shape), exp[k], k)
        # written out by hand from docs/model.md for one block, two branches
        cfg = small_cfg(n_blocks=1)
        names = []
        for i in range(3):
            names += [f"enc.{i}.conv.weight", f"enc.{i}.conv.bias",
                      f"enc.{i}.norm.weight", f"enc.{i}.norm.bias"]
        names += ["trans.inp.weight", "trans.inp.bias"]
        for sub in ("norm1", "attn.v", "attn.branches.0", "attn.branches.1", "attn.fuse",
                    "attn.proj", "norm2", "se.fc1", "se.fc2", "norm3", "mlp.fc1", "mlp.dw",
                    "mlp.fc2"):
            names += [f"trans.blocks.0.{sub}.weight", f"trans.blocks.0.{sub}.bias"]
        names += ["trans.out.weight", "trans.out.bias"]
        for i in range(3):
            names += [f"dec.{i}.conv.weight", f"dec.{i}.conv.bias",
                      f"dec.{i}.norm.weight", f"dec.{i}.norm.bias"]
        names += ["readout.weight", "readout.bias"]
        sd = ImpaNet(cfg).state_dict()
        self.assertEqual(list(sd), names)
        s, t = cfg.hid_s, cfg.hid_t
        self.assertEqual(tuple(sd["enc.0.conv.weight"].shape), (s, 4, 3, 3))
        self.assertEqual(tuple(sd["trans.inp.weight"].shape), (t, 3 * s, 1, 1))
        self.assertEqual(tuple(sd["trans.blocks.0.attn.branches.1.weight"].shape), (t, 1, 5, 5))
        self.assertEqual(tuple(sd["trans.blocks.0.se.fc1.weight"].shape), (t // 4, t, 1, 1))
        self.assertEqual(tuple(sd["trans.blocks.0.mlp.dw.weight"].shape), (2 * t, 1, 3, 3))
        self.assertEqual(tuple(sd["trans.out.weight"].shape), (4 * s, t, 1, 1))
        self.assertEqual(tuple(sd["dec.0.conv.weight"].shape), (4 * s, s, 3, 3))
        self.assertEqual(tuple(sd["readout.weight"].shape), (1, s, 1, 1))

    def test_names_in_docs_exist(self):
        """Every parameter path quoted in docs/model.md names real parameters."""
        path = os.path.join(SRC_ROOT, "docs", "model.md")
        if not os.path.exists(path):
            self.skipTest(f"{path} not found")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        keys = list(ImpaNet(ImpaConfig()).state_dict())
        quoted = set(re.findall(r"`((?:enc|dec|trans|readout)[\w.{}]*)`", text))
        self.assertTrue(quoted)
        for q in quoted:
            # index placeholders: {i}, {0,1,2}, 0..2, 0..nb-1, a bare i
            q2 = re.sub(r"\{[^}]*\}|\b\d+\.\.[\w-]+|(?<=\.)i(?=\.|$)", "IDX", q)
            pat = re.escape(q2).replace("IDX", "[0-9]+")
            self.assertTrue(any(re.match(pat, k) for k in keys), f"{q} not a parameter prefix")

    def test_forward_shape_and_doc_equivalence(self):
        for mixer, residual, (h, w), extra in (
                (1, 1, (16, 24), {}), (0, 0, (12, 8), {}), (1, 0, (8, 20), {}),
                (1, 1, (16, 24), dict(norm_local=1, norm_groups=2, se_window=3)),
                (1, 1, (20, 12), dict(norm_local=1, norm_groups=1, se_window=5)),
                (1, 1, (12, 16), dict(se_window=1)),
                (1, 1, (12, 16), dict(norm_local=1, norm_groups=2))):
            with self.subTest(mixer=mixer, residual=residual, **extra):
                cfg = small_cfg(spatial_mixer=mixer, residual=residual, **extra)
                m = init_nontrivial(ImpaNet(cfg), 7).eval()
                x = torch.rand(2, cfg.t_in, 4, h, w)
                with torch.no_grad():
                    y = m(x)
                self.assertEqual(tuple(y.shape), (2, cfg.t_out, h, w))
                for b in range(2):
                    ref = doc_forward(m.state_dict(), cfg, x[b])
                    np.testing.assert_allclose(y[b].double().numpy(), ref.numpy(), atol=2e-5)

    def test_every_part_matters(self):
        cfg = small_cfg()
        m = init_nontrivial(ImpaNet(cfg), 3).eval()
        x = torch.rand(1, cfg.t_in, 4, 16, 16)
        with torch.no_grad():
            y0 = m(x)
            for name in ("trans.blocks.1.norm2.bias", "trans.blocks.0.attn.branches.1.weight",
                         "dec.2.norm.weight", "trans.blocks.1.se.fc2.bias", "enc.0.conv.bias"):
                # one element only: a shift of every conv bias in a GroupNorm
                # group is cancelled exactly by that norm
                p = m.state_dict(keep_vars=True)[name]
                old = p.clone()
                if p.dim() == 4:  # centre tap: outer taps of a dilated kernel may
                    p[0, 0, p.shape[2] // 2, p.shape[3] // 2] += 0.05  # see only padding
                else:
                    p[0] += 0.05
                self.assertGreater(float((m(x) - y0).abs().max()), 1e-4, name)
                p.copy_(old)

    def test_size_independence_of_norm_local(self):
        """norm_local + se_window: the centre of a crop's forecast equals the
        whole grid's there (the receptive field is finite, nothing is a grid
        mean); the GroupNorm model differs."""
        # receptive-field radius of the small config is about 60 px: compare
        # 64 px and more inside the crop's edges
        x = torch.rand(1, 3, 4, 224, 224)
        diffs = {}
        for extra in (dict(norm_local=1, norm_groups=2, se_window=3), {}):
            cfg = small_cfg(**extra)
            m = init_nontrivial(ImpaNet(cfg), 5).eval()
            with torch.no_grad():
                full = m(x)[..., 96:128, 96:128]
                crop = m(x[..., 32:192, 32:192])[..., 64:96, 64:96]
            diffs[bool(extra)] = float((full - crop).abs().max())
        self.assertLess(diffs[True], 1e-5)
        self.assertGreater(diffs[False], 1e-3)

    def test_flop_count_matches_convs(self):
        for extra in ({}, dict(se_window=3)):
            with self.subTest(**extra):
                self._flop_count_matches_convs(small_cfg(**extra))

    def _flop_count_matches_convs(self, cfg):
        m = ImpaNet(cfg).eval()
        h, w = 16, 24
        conv_flops = []

        def hook(mod, inp, out):
            n = out.numel()  # batch 1
            cin_g = mod.in_channels // mod.groups
            k = mod.kernel_size[0] * mod.kernel_size[1]
            conv_flops.append(n * 2 * cin_g * k)
        hooks = [mod.register_forward_hook(hook) for mod in m.modules()
                 if isinstance(mod, torch.nn.Conv2d)]
        with torch.no_grad():
            m(torch.rand(1, cfg.t_in, 4, h, w))
        for hk in hooks:
            hk.remove()
        f = count_flops(cfg, h, w)
        self.assertEqual(f["conv"], float(sum(conv_flops)))
        self.assertAlmostEqual(f["total"], f["conv"] + f["eltwise"])
        self.assertGreater(f["eltwise"], 0)

    def test_flop_count_value(self):
        # shipped model at 256x256, computed by hand with the formula of
        # docs/reference-model.md (the C engine's count)
        f = count_flops(ImpaConfig(), 256, 256)
        # eltwise: encoder 4*2*16*(65536+16384+4096) = 11010048; blocks
        # 2*(64*4096*11 + 128*4096) = 6815744; decoder
        # 12*(2*16*16384 + 5*16*65536 + 65536) = 69992448
        self.assertEqual(f["eltwise"], 87818240.0)
        self.assertEqual(f["conv"], 9568264192.0)

    def test_flop_count_equals_c_engine(self):
        """impa-bench prints impa_engine_flops as gflop=; both counts must agree."""
        import subprocess
        exe = os.path.join(os.environ.get("IMPA_BUILD_ROOT", ""), "src", "tools", "impa-bench")
        model = os.path.join(SRC_ROOT, "models", "impa-net.nc")
        if not (os.environ.get("IMPA_BUILD_ROOT") and os.access(exe, os.X_OK)
                and os.path.exists(model)):
            self.skipTest("impa-bench not built in IMPA_BUILD_ROOT")
        for h, w in ((64, 64), (40, 56)):
            p = subprocess.run([exe, "--weights", model, "--grid", f"{h}x{w}", "--threads", "1",
                                "--runs", "1"], capture_output=True, text=True, timeout=120)
            m = re.search(r"gflop=([0-9.]+)", p.stdout)
            self.assertIsNotNone(m, p.stdout + p.stderr)
            _, cfg = weights.load(model)
            self.assertAlmostEqual(float(m.group(1)), count_flops(cfg, h, w)["total"] / 1e9,
                                   delta=0.0006)


class TestWeights(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="impa-test-")
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_export_load_round_trip(self):
        for cfg in (small_cfg(), small_cfg(norm_local=1, se_window=3),
                    small_cfg(branch_kernels=[3], branch_dilations=[2],
                                           fields=["reflectivity"], norm_transform=["linear"],
                                           norm_offset=[0], norm_scale=[70], norm_min=[0],
                                           norm_max=[1])):
            with self.subTest(n_fields=cfg.n_fields):
                m = init_nontrivial(ImpaNet(cfg), 11).eval()
                p = self.path("w.nc")
                weights.export(m, cfg, p, model_name="t", model_version="9",
                               description="round trip", training="none")
                m2, cfg2 = weights.load(p)
                self.assertEqual(cfg2, cfg)
                for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
                    self.assertEqual(k, k2)
                    self.assertTrue(torch.equal(a, b), k)
                x = torch.rand(1, cfg.t_in, cfg.n_fields, 8, 8)
                with torch.no_grad():
                    self.assertTrue(torch.equal(m(x), m2(x)))
                prov = weights.read_provenance(p)
                self.assertEqual(prov, {"model_name": "t", "model_version": "9",
                                        "description": "round trip", "training": "none"})

    def test_file_layout(self):
        cfg = small_cfg()
        p = self.path("w.nc")
        weights.export(init_nontrivial(ImpaNet(cfg), 1), cfg, p)
        with netCDF4.Dataset(p) as ds:
            self.assertEqual(ds.getncattr("format"), "impa-nowcast-weights")
            self.assertEqual(int(ds.getncattr("format_version")), 1)
            self.assertEqual(ds.getncattr("fields"), "reflectivity,precip_rate,terrain,wind850")
            self.assertEqual(ds.getncattr("norm_transform"), "linear,log10p1,linear,linear")
            self.assertEqual(list(ds.getncattr("branch_kernels")), [3, 5])
            self.assertEqual(list(ds.getncattr("norm_scale")), [70.0, 2.0, 3000.0, 20.0])
            self.assertEqual(int(ds.getncattr("hid_t")), 16)
            v = ds.variables["trans.blocks.1.attn.branches.1.weight"]
            self.assertEqual(v.dimensions, ("hid_t", "one", "k5", "k5"))
            self.assertEqual(v.dtype, np.float32)
            self.assertIn("dilation 2", v.long_name)
            self.assertEqual(ds.variables["dec.0.conv.weight"].dimensions,
                             ("hid_s_x4", "hid_s", "k3", "k3"))
            self.assertEqual(ds.variables["trans.inp.weight"].dimensions,
                             ("hid_t", "tin_hid_s", "k1", "k1"))
            self.assertTrue(all("long_name" in ds.variables[k].ncattrs() for k in ds.variables))
            self.assertEqual(list(ds.variables), list(expected_shapes(cfg)))

    def test_load_refuses_bad_files(self):
        cfg = small_cfg()
        good = self.path("good.nc")
        weights.export(init_nontrivial(ImpaNet(cfg), 1), cfg, good)

        def variant(name, edit):
            p = self.path(name)
            with open(good, "rb") as f, open(p, "wb") as g:
                g.write(f.read())
            with netCDF4.Dataset(p, "a") as ds:
                edit(ds)
            return p

        p = variant("fmt.nc", lambda ds: ds.setncattr("format_version", np.int32(2)))
        with self.assertRaisesRegex(weights.WeightsError, "format_version"):
            weights.load(p)
        p = variant("extra.nc", lambda ds: ds.createVariable("bogus", "f4", ("hid_t",)))
        with self.assertRaisesRegex(weights.WeightsError, "unexpected tensor.*bogus"):
            weights.load(p)
        p = variant("attr.nc", lambda ds: ds.delncattr("gn_eps"))
        with self.assertRaisesRegex(weights.WeightsError, "missing attribute.*gn_eps"):
            weights.load(p)
        # hid_t attribute changed: every translator tensor now has the wrong shape
        p = variant("shape.nc", lambda ds: ds.setncattr("hid_t", np.int32(32)))
        with self.assertRaisesRegex(weights.WeightsError, r"tensor 'trans.inp.weight' has shape "
                                    r"\[16, 24, 1, 1\], expected \[32, 24, 1, 1\]"):
            weights.load(p)
        p = variant("range.nc", lambda ds: ds.setncattr("norm_groups", np.int32(3)))
        with self.assertRaisesRegex(weights.WeightsError, "norm_groups"):
            weights.load(p)

    def test_cli_export_random(self):
        p = self.path("cli.nc")
        rc = weights.main(["export-random", "--seed", "5", "--out", p, "--hid-s", "8",
                           "--hid-t", "16", "--branch-kernels", "3,5", "--branch-dilations", "1,2"])
        self.assertEqual(rc, 0)
        m, cfg = weights.load(p)
        self.assertEqual((cfg.hid_s, cfg.hid_t, cfg.branch_kernels), (8, 16, [3, 5]))
        ref = init_nontrivial(ImpaNet(cfg), 5)
        self.assertTrue(all(torch.equal(a, b) for a, b in
                            zip(m.state_dict().values(), ref.state_dict().values())))
        self.assertIn("UNTRAINED", weights.read_provenance(p)["description"])


class TestCommittedFiles(unittest.TestCase):
    def test_goldens_reproduce(self):
        """The committed golden outputs are what this model computes from the
        committed weights and inputs (fast; --check regenerates everything)."""
        d = os.path.join(SRC_ROOT, "tests", "data")
        for name in ("a", "b", "c"):
            with self.subTest(name=name):
                g = os.path.join(d, f"golden_{name}.nc")
                if not os.path.exists(g):
                    self.skipTest(f"{g} missing")
                with netCDF4.Dataset(g) as ds:
                    wfile = os.path.join(d, ds.getncattr("weights_file"))
                    x = torch.from_numpy(np.array(ds.variables["input"][...], dtype=np.float32))
                    y = np.array(ds.variables["output"][...], dtype=np.float32)
                m, cfg = weights.load(wfile)
                with torch.no_grad():
                    out = m(x[None])[0].numpy()
                np.testing.assert_allclose(out, y, atol=1e-4)
                self.assertGreater(float(np.std(y)), 0.05)  # not a trivial output

    def test_default_model_shape(self):
        p = os.path.join(SRC_ROOT, "models", "impa-net.nc")
        if not os.path.exists(p):
            self.skipTest(f"{p} missing")
        _, cfg = weights.load(p)
        # the shipped model is the advection-guided variant (models/README.md)
        self.assertEqual(cfg, ImpaConfig(advection=1))
        for name in ("impa-net-mse.nc", "impa-net-plain.nc", "impa-net-plain-mse.nc"):
            _, c = weights.load(os.path.join(SRC_ROOT, "models", name))
            self.assertEqual(c, ImpaConfig(advection=0 if "plain" in name else 1), name)
        _, c = weights.load(os.path.join(SRC_ROOT, "models", "impa-net-nomixer.nc"))
        self.assertEqual(c, ImpaConfig(advection=1, spatial_mixer=0))
        # the size-independent alternative (models/README.md)
        _, c = weights.load(os.path.join(SRC_ROOT, "models", "impa-net-local.nc"))
        self.assertEqual(c, ImpaConfig(advection=1, norm_local=1, norm_groups=1, se_window=11))


if __name__ == "__main__":
    unittest.main()
