#!/usr/bin/env python3
"""Where an SD UNet forward spends its time, by operator: is a fusion worth building?

Issue 21 asks for fused GroupNorm + SiLU and GEGLU only where a number shows they would help. This
times diffusers' UNet2DConditionModel (random weights from the config; the operators are the ones
asdm calls too, apart from its own CPU convolution paths) under torch.profiler and sums each
operator's self time (device time on CUDA), grouped:

  convolution   aten::*convolution*, cudnn / mkldnn kernels
  matmul        mm, addmm, bmm, baddbmm, linear's GEMMs
  attention     scaled_dot_product_* and its flash / efficient kernels
  group_norm    native_group_norm (and the layout copies it makes are under 'copy')
  layer_norm    native_layer_norm
  silu, gelu    the activations
  elementwise   add, mul, div, sub, where, ...
  copy          copy_, contiguous, cat, clone, to
  other         everything else

and prints the upper bounds a fusion could save per forward: GroupNorm + SiLU saves at most the
SiLU pass (a fused kernel still reads and writes the tensor once), GEGLU at most the gelu and the
multiply that follows it (all of aten::mul is counted: an upper bound).

usage: .venv/bin/python bench/op_shares.py [--config configs/sd15.json] [--latent 32] [--batch 2]
           [--threads 2] [--device cpu|cuda] [--dtype fp32|fp16|bf16] [--channels-last]
           [--runs 3] [--top 15] [--json FILE]
"""
import argparse
import json
import os
import re
import sys
import warnings

import torch
from unet_args import ROOT, add_unet_args
from torch.autograd import DeviceType
from diffusers import UNet2DConditionModel
from diffusers.utils import logging as diffusers_logging

GROUPS = [
    ("attention", re.compile(r"scaled_dot_product|flash|fmha|efficient_attention|_attention")),
    ("convolution", re.compile(r"conv|cudnn|winograd|implicit_gemm|mkldnn_convolution")),
    ("group_norm", re.compile(r"group_norm")),
    ("layer_norm", re.compile(r"layer_norm")),
    ("silu", re.compile(r"silu")),
    ("gelu", re.compile(r"gelu")),
    ("matmul", re.compile(r"^aten::(mm|addmm|bmm|baddbmm|matmul)$|gemm|cublas|sm90_xmma|cutlass")),
    ("copy", re.compile(r"copy_|contiguous|^aten::cat$|clone|^aten::to$|_to_copy|CatArrayBatched")),
    ("elementwise", re.compile(r"^aten::(add|mul|div|sub|where|neg|exp|sin|cos|pow|rsqrt|sqrt)_?$|elementwise|vectorized")),
]


def group_of(name):
    for g, rx in GROUPS:
        if rx.search(name):
            return g
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_unet_args(ap)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="profiled forwards (after 2 warm-ups)")
    ap.add_argument("--top", type=int, default=15, help="operators listed")
    ap.add_argument("--json", help="write the shares to this file")
    a = ap.parse_args()
    if a.runs < 1:
        sys.exit("op_shares.py: --runs must be at least 1")
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("op_shares.py: --device cuda but torch sees no CUDA device")
    torch.set_num_threads(a.threads)
    diffusers_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message=".*Profiler clears events.*")
    torch.manual_seed(0)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    with open(a.config) as f:
        cfg = json.load(f)
    if cfg.get("addition_embed_type") == "text_time":
        sys.exit("op_shares.py: SDXL-style configs (text_time) are not set up here; use an SD 1.x/2.x config")
    model = UNet2DConditionModel.from_config(cfg).eval().to(a.device, dtype)
    mf = torch.channels_last if a.channels_last else torch.contiguous_format
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ch = cfg.get("in_channels", 4)
    x = torch.randn(a.batch, ch, a.latent, a.latent, device=a.device, dtype=dtype).contiguous(memory_format=mf)
    t = torch.full((a.batch,), 500, device=a.device)
    ctx = torch.randn(a.batch, a.tokens, cfg["cross_attention_dim"], device=a.device, dtype=dtype)
    cuda = a.device == "cuda"
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    with torch.no_grad():
        for _ in range(2):
            model(x, t, ctx)
        if cuda:
            torch.cuda.synchronize()
        with torch.profiler.profile(activities=acts) as prof:
            for _ in range(a.runs):
                model(x, t, ctx)
            if cuda:
                torch.cuda.synchronize()
    # On CUDA both an operator and each kernel it launched carry the kernel's device time; the
    # operators (CPU-side events) are kept, and the kernels' own sum is printed as a check.
    rows, kernel_ms = [], 0.0
    for e in prof.key_averages():
        us = e.self_device_time_total if cuda else e.self_cpu_time_total
        if us <= 0:
            continue
        if cuda and e.device_type != DeviceType.CPU:
            kernel_ms += us / 1000.0 / a.runs
            continue
        rows.append((e.key, us / 1000.0 / a.runs, e.count // a.runs))
    total = sum(r[1] for r in rows)
    if total <= 0:
        sys.exit("op_shares.py: the profiler recorded no time")
    rows.sort(key=lambda r: -r[1])
    groups = {}
    for name, ms, _ in rows:
        g = group_of(name)
        groups[g] = groups.get(g, 0.0) + ms
    where = f"{a.device}, {a.dtype}, {'NHWC' if a.channels_last else 'NCHW'}, latent {a.latent}, batch {a.batch}"
    if not cuda:
        where += f", {a.threads} threads"
    print(f"{os.path.basename(a.config)}: {total:.2f} ms of {'device' if cuda else 'CPU'} self time per forward ({where}; torch {torch.__version__})")
    if cuda:
        print(f"kernels and copies on the device: {kernel_ms:.2f} ms per forward (the operators' sum above should match)")
    print(f"{'operator':<60} {'ms/forward':>11} {'share':>7} {'calls':>6}")
    for name, ms, n in rows[: a.top]:
        print(f"{name[:60]:<60} {ms:11.3f} {100 * ms / total:6.2f}% {n:6d}")
    print(f"\n{'group':<14} {'ms/forward':>11} {'share':>7}")
    for g, ms in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"{g:<14} {ms:11.3f} {100 * ms / total:6.2f}%")
    mul = sum(ms for name, ms, _ in rows if re.search(r"^aten::mul_?$|mul_kernel|MulFunctor", name))
    gn_silu = groups.get("silu", 0.0)
    geglu = groups.get("gelu", 0.0) + mul
    print(f"\nat most saved per forward by fusing GroupNorm + SiLU: {gn_silu:.3f} ms ({100 * gn_silu / total:.2f}%);"
          f" GEGLU (gelu + every mul): {geglu:.3f} ms ({100 * geglu / total:.2f}%)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"config": a.config, "device": a.device, "dtype": a.dtype, "channels_last": a.channels_last,
                       "latent": a.latent, "batch": a.batch, "threads": a.threads, "runs": a.runs,
                       "torch_version": torch.__version__, "total_ms": total,
                       "device_kernels_ms": kernel_ms if cuda else None,
                       "groups_ms": groups, "fusion_upper_bound_ms": {"group_norm_silu": gn_silu, "geglu": geglu},
                       "operators": [{"name": n, "ms": ms, "calls": c} for n, ms, c in rows]}, f, indent=1)


if __name__ == "__main__":
    main()
