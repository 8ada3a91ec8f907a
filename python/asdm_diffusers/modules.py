"""The torch modules of an asdm student, computing what asdm's C++ UNet computes.

- ``RemovedResnet``: a removed ResBlock keeps its shortcut (identity or its 1x1 ``conv_shortcut``),
  divided by the block's ``output_scale_factor``.
- ``RemovedTransformer2D`` / ``RemovedTransformerBlock``: removed attention units are identities.
- ``ClmeConv2d``: cross-layer multi-expert conditional convolution (model/clme_condconv.h). Per
  sample, ``a = sigmoid(W [GAP(x), silu(temb)] + b)`` and the kernel is
  ``2 a_0 K_0 + sum_{i>=1} (2 a_i - 1) K_i`` (biases mix the same way); ``K_0`` is the surviving
  kernel. At a zero router it is exactly the surviving convolution.
- ``GriAttnProcessor``: global-regional self-attention (model/gri_attention.h): every query attends
  to the keys of its own window and to average-pooled keys of the whole map.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class RemovedResnet(nn.Module):
    """A ResBlock whose branch was removed: ``shortcut(x) / output_scale_factor``."""

    def __init__(self, conv_shortcut: Optional[nn.Module], output_scale_factor: float = 1.0):
        super().__init__()
        self.conv_shortcut = conv_shortcut
        self.output_scale_factor = output_scale_factor

    def forward(self, input_tensor: torch.Tensor, temb: Optional[torch.Tensor] = None, *args, **kwargs):
        x = self.conv_shortcut(input_tensor) if self.conv_shortcut is not None else input_tensor
        return x / self.output_scale_factor if self.output_scale_factor != 1.0 else x


class RemovedTransformer2D(nn.Module):
    """A removed attention unit (a whole Transformer2DModel): the identity."""

    def forward(self, hidden_states: torch.Tensor, *args, return_dict: bool = True, **kwargs):
        if not return_dict:
            return (hidden_states,)
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        return Transformer2DModelOutput(sample=hidden_states)


class RemovedTransformerBlock(nn.Module):
    """A removed BasicTransformerBlock inside a multi-layer Transformer2DModel: the identity."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        return hidden_states


def clme_coefficients(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample expert coefficients [B, E]: 2*sigmoid for expert 0, 2*sigmoid - 1 for the rest."""
    c = 2 * torch.sigmoid(logits) - 1
    return torch.cat([c[:, :1] + 1, c[:, 1:]], dim=1)


class ClmeConv2d(nn.Module):
    """A 3x3 convolution whose kernel is a per-sample mix of experts.

    State-dict keys as asdm writes them: ``weight``/``bias`` (expert 0, the surviving kernel),
    ``experts.<k>.weight``/``bias`` (kernels of removed sibling ResBlocks) and ``router.weight``/
    ``bias`` (a linear layer over ``[GAP(x), silu(temb)]``). ``route`` (``silu(temb)``) is set by
    the owning ResBlock's forward pre-hook before each call (see ``attach_clme``).
    """

    def __init__(self, in_channels: int, out_channels: int, experts: int, route_dim: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.experts = nn.ModuleList(
            nn.Conv2d(in_channels, out_channels, 3, padding=1) for _ in range(experts)
        )
        self.router = nn.Linear(in_channels + route_dim, experts + 1)
        nn.init.zeros_(self.router.weight)
        nn.init.zeros_(self.router.bias)
        self.route: Optional[torch.Tensor] = None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, experts: int, route_dim: int) -> "ClmeConv2d":
        m = cls(conv.in_channels, conv.out_channels, experts, route_dim)
        m = m.to(device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            m.weight.copy_(conv.weight)
            if conv.bias is not None:
                m.bias.copy_(conv.bias)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.route is None:
            raise RuntimeError("ClmeConv2d needs the time embedding: call it through its ResBlock")
        B, cin, H, W = x.shape
        route = self.route.to(x.dtype).expand(B, self.route.shape[-1])
        c = clme_coefficients(self.router(torch.cat([x.mean(dim=(2, 3)), route], dim=1)))
        kernels = torch.stack([self.weight] + [e.weight for e in self.experts]).flatten(1)
        biases = torch.stack([self.bias] + [e.bias for e in self.experts])
        w = (c @ kernels).view(B * self.out_channels, cin, 3, 3)
        b = (c @ biases).reshape(-1)
        y = F.conv2d(x.reshape(1, B * cin, H, W), w, b, padding=1, groups=B)
        return y.view(B, self.out_channels, H, W)


def _route_hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
    temb = args[1] if len(args) > 1 else kwargs.get("temb")
    route = F.silu(temb) if temb is not None else None
    for name in ("conv1", "conv2"):
        conv = getattr(module, name, None)
        if isinstance(conv, ClmeConv2d):
            conv.route = route


def attach_clme(resnet: nn.Module, conv1_experts: int, conv2_experts: int) -> None:
    """Makes a diffusers ResnetBlock2D's conv1/conv2 CLME convolutions with these expert counts."""
    route_dim = resnet.time_emb_proj.in_features
    if conv1_experts:
        resnet.conv1 = ClmeConv2d.from_conv(resnet.conv1, conv1_experts, route_dim)
    if conv2_experts:
        resnet.conv2 = ClmeConv2d.from_conv(resnet.conv2, conv2_experts, route_dim)
    if conv1_experts or conv2_experts:
        resnet.register_forward_pre_hook(_route_hook, with_kwargs=True)


def gri_geometry(height: int, width: int, window: int, pool: int) -> Tuple[int, int, int, int]:
    """Window sides (clamped to the map) and pooled-grid sides; ValueError when they do not divide."""
    if window < 1 or pool < 0:
        raise ValueError(f"GRI needs window >= 1 and pool >= 0 (got {window}, {pool})")
    wh, ww = min(window, height), min(window, width)
    if height % wh or width % ww:
        raise ValueError(f"GRI window {window} does not divide the {height}x{width} map")
    if pool > 0 and (height % pool or width % pool):
        raise ValueError(f"GRI pool {pool} does not divide the {height}x{width} map")
    return wh, ww, (height // pool if pool else 0), (width // pool if pool else 0)


def gri_attention(q, k, v, height: int, width: int, window: int, pool: int) -> torch.Tensor:
    """q, k, v: [B, heads, H*W, d] in raster order; returns [B, heads, H*W, d]."""
    B, h, _, d = q.shape
    wh, ww, gh, gw = gri_geometry(height, width, window, pool)
    nh, nw = height // wh, width // ww

    def to_windows(t):
        return (
            t.reshape(B, h, nh, wh, nw, ww, d)
            .permute(0, 1, 2, 4, 3, 5, 6)
            .reshape(B, h, nh * nw, wh * ww, d)
        )

    kw, vw = to_windows(k), to_windows(v)
    if pool > 0:

        def pooled(t):
            m = t.transpose(2, 3).reshape(B * h, d, height, width)
            m = F.avg_pool2d(m, pool, pool).reshape(B, h, d, gh * gw).transpose(2, 3)
            return m.unsqueeze(2).expand(B, h, nh * nw, gh * gw, d)

        kw = torch.cat([kw, pooled(k)], dim=3)
        vw = torch.cat([vw, pooled(v)], dim=3)
    n = nh * nw
    out = F.scaled_dot_product_attention(
        to_windows(q).reshape(B, h * n, wh * ww, d),
        kw.reshape(B, h * n, kw.shape[3], d),
        vw.reshape(B, h * n, vw.shape[3], d),
    )
    return (
        out.reshape(B, h, nh, nw, wh, ww, d)
        .permute(0, 1, 2, 4, 3, 5, 6)
        .reshape(B, h, height * width, d)
    )


class GriAttnProcessor:
    """A diffusers attention processor for self-attention (attn1) with GRI attention.

    The map's height and width come from the owning Transformer2DModel's input, recorded by
    ``attach_gri``'s pre-hook (the processor itself only sees H*W tokens).
    """

    def __init__(self, window: int, pool: int):
        self.window, self.pool = window, pool
        self.hw: Optional[Tuple[int, int]] = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        if encoder_hidden_states is not None:
            raise ValueError("GRI attention replaces self-attention only")
        if self.hw is None:
            raise RuntimeError("GriAttnProcessor needs the map size: call it through its Transformer2DModel")
        B = hidden_states.shape[0]
        q, k, v = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        heads = attn.heads

        def split(t):
            return t.view(B, -1, heads, t.shape[-1] // heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        if attn.upcast_attention and q.dtype != torch.float32:
            out = gri_attention(q.float(), k.float(), v.float(), *self.hw, self.window, self.pool).to(q.dtype)
        else:
            out = gri_attention(q, k, v, *self.hw, self.window, self.pool)
        out = out.transpose(1, 2).reshape(B, -1, out.shape[1] * out.shape[3])
        out = attn.to_out[0](out)
        return attn.to_out[1](out)


def _map_size_hook(processors: List[GriAttnProcessor]):
    def hook(module, args, kwargs):
        x = args[0] if args else kwargs["hidden_states"]
        for p in processors:
            p.hw = (int(x.shape[-2]), int(x.shape[-1]))

    return hook


def attach_gri(transformer: nn.Module, window: int, pool: int) -> None:
    """GRI self-attention in every (kept) BasicTransformerBlock of a Transformer2DModel."""
    processors = []
    for block in transformer.transformer_blocks:
        if isinstance(block, RemovedTransformerBlock):
            continue
        p = GriAttnProcessor(window, pool)
        block.attn1.set_processor(p)
        processors.append(p)
    transformer.register_forward_pre_hook(_map_size_hook(processors), with_kwargs=True)
