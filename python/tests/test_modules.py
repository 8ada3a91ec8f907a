"""The asdm_diffusers modules against plain torch: CLME-CondConv, GRI attention, removed units."""

import unittest

import torch
import torch.nn.functional as F
from torch import nn

from asdm_diffusers import ClmeConv2d, RemovedResnet, clme_coefficients, gri_attention


class ClmeTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.conv = nn.Conv2d(6, 5, 3, padding=1)
        self.m = ClmeConv2d.from_conv(self.conv, experts=2, route_dim=7)
        for e in self.m.experts:
            nn.init.normal_(e.weight)
            nn.init.normal_(e.bias)
        self.x = torch.randn(3, 6, 4, 5)
        self.m.route = torch.randn(3, 7)

    def test_coefficients_at_zero_logits(self):
        self.assertTrue(torch.equal(clme_coefficients(torch.zeros(2, 3)), torch.tensor([[1.0, 0, 0]] * 2)))

    def test_zero_router_is_the_surviving_convolution(self):
        torch.testing.assert_close(self.m(self.x), self.conv(self.x), rtol=1e-5, atol=1e-5)

    def test_per_sample_mix_of_experts(self):
        nn.init.normal_(self.m.router.weight)
        nn.init.normal_(self.m.router.bias)
        z = torch.cat([self.x.mean(dim=(2, 3)), self.m.route], 1)
        c = clme_coefficients(self.m.router(z))
        kernels = [self.m.weight] + [e.weight for e in self.m.experts]
        biases = [self.m.bias] + [e.bias for e in self.m.experts]
        want = torch.stack([
            F.conv2d(self.x[b:b + 1], sum(c[b, i] * kernels[i] for i in range(3)),
                     sum(c[b, i] * biases[i] for i in range(3)), padding=1)[0]
            for b in range(3)
        ])
        torch.testing.assert_close(self.m(self.x), want, rtol=1e-4, atol=1e-5)

    def test_needs_the_time_embedding(self):
        self.m.route = None
        with self.assertRaises(RuntimeError):
            self.m(self.x)


class GriTest(unittest.TestCase):
    def test_one_window_and_no_pool_is_full_attention(self):
        torch.manual_seed(1)
        q, k, v = (torch.randn(2, 3, 4 * 6, 8) for _ in range(3))
        torch.testing.assert_close(gri_attention(q, k, v, 4, 6, 8, 0), F.scaled_dot_product_attention(q, k, v))

    def test_a_query_sees_its_window_and_the_pooled_map(self):
        torch.manual_seed(2)
        H, W, win, pool, d = 4, 4, 2, 2, 5
        q, k, v = (torch.randn(1, 1, H * W, d) for _ in range(3))
        out = gri_attention(q, k, v, H, W, win, pool)
        # Query at (1, 2): its window holds rows 0-1, columns 2-3.
        i = 1 * W + 2
        window = [r * W + c for r in (0, 1) for c in (2, 3)]
        grid = lambda t: t[0, 0].T.reshape(1, d, H, W)  # noqa: E731
        pooled = lambda t: F.avg_pool2d(grid(t), pool).reshape(d, -1).T  # noqa: E731
        keys = torch.cat([k[0, 0, window], pooled(k)])
        values = torch.cat([v[0, 0, window], pooled(v)])
        want = torch.softmax(q[0, 0, i] @ keys.T / d ** 0.5, -1) @ values
        torch.testing.assert_close(out[0, 0, i], want, rtol=1e-5, atol=1e-5)

    def test_a_window_that_does_not_divide_the_map_is_an_error(self):
        q = torch.zeros(1, 1, 36, 4)
        with self.assertRaises(ValueError):
            gri_attention(q, q, q, 6, 6, 4, 0)


class RemovedTest(unittest.TestCase):
    def test_resnet_keeps_its_shortcut_and_scale(self):
        x = torch.randn(1, 4, 3, 3)
        self.assertTrue(torch.equal(RemovedResnet(None)(x, None), x))
        conv = nn.Conv2d(4, 6, 1)
        torch.testing.assert_close(RemovedResnet(conv, 2.0)(x, torch.zeros(1, 8)), conv(x) / 2)


if __name__ == "__main__":
    unittest.main()
