"""Training speed and memory of a student UNet in diffusers + PyTorch, the way BK-SDM trains it:
the frozen teacher and the student on the same noisy latents, task MSE + output distillation,
AdamW, optionally bf16 autocast and diffusers' gradient checkpointing. The baseline for asdm
incubate's samples/s and peak memory (scripts/gpu-scale-check.sh runs both on the same card).

  python bench/train_diffusers.py --teacher T/unet --student S/unet --resolution 512 --batch 8 \
      --steps 8 --device cuda --amp [--gradient-checkpointing]

Prints one JSON line: samples_per_s (median over the steps after --warmup), peak_bytes
(torch.cuda.max_memory_allocated on CUDA; the process's peak RSS growth on the CPU), settings.
Random inputs; speed and memory do not depend on the weights' values.
"""

import argparse
import json
import resource
import statistics
import time

import torch
from diffusers import UNet2DConditionModel


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True, help="the teacher's diffusers UNet folder")
    ap.add_argument("--student", required=True, help="the student's diffusers UNet folder")
    ap.add_argument("--resolution", type=int, default=512, help="image side (latent side / 8)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (float32 weights)")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--lr", type=float, default=1e-5)
    a = ap.parse_args()

    dev = torch.device(a.device)
    teacher = UNet2DConditionModel.from_pretrained(a.teacher).to(dev).eval().requires_grad_(False)
    student = UNet2DConditionModel.from_pretrained(a.student).to(dev).train()
    if a.gradient_checkpointing:
        student.enable_gradient_checkpointing()
    opt = torch.optim.AdamW(student.parameters(), lr=a.lr)
    cfg = student.config
    side = a.resolution // 8
    g = torch.Generator().manual_seed(0)
    cross = cfg.cross_attention_dim if isinstance(cfg.cross_attention_dim, int) else cfg.cross_attention_dim[0]
    x0 = torch.randn(a.batch, cfg.in_channels, side, side, generator=g).to(dev)
    ehs = torch.randn(a.batch, 77, cross, generator=g).to(dev)
    added = {}
    if cfg.addition_embed_type == "text_time":
        pooled = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
        added = {"text_embeds": torch.randn(a.batch, pooled, generator=g).to(dev),
                 "time_ids": torch.tensor([[a.resolution, a.resolution, 0, 0, a.resolution, a.resolution]] * a.batch,
                                          dtype=torch.float32).to(dev)}
    alphas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    ab = torch.cumprod(1 - alphas, 0).float().to(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        eps = torch.randn(x0.shape, generator=g).to(dev)
        t = torch.randint(0, 1000, (a.batch,), generator=g).to(dev)
        at = ab[t].view(-1, 1, 1, 1)
        xt = at.sqrt() * x0 + (1 - at).sqrt() * eps
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.amp):
            with torch.no_grad():
                tout = teacher(xt, t, ehs, added_cond_kwargs=added or None).sample
            sout = student(xt, t, ehs, added_cond_kwargs=added or None).sample
            loss = torch.nn.functional.mse_loss(sout.float(), eps) + \
                torch.nn.functional.mse_loss(sout.float(), tout.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0)
    print(json.dumps({"runner": "diffusers", "samples_per_s": a.batch / statistics.median(times),
                      "peak_bytes": int(peak), "batch": a.batch, "resolution": a.resolution,
                      "amp": a.amp, "gradient_checkpointing": a.gradient_checkpointing,
                      "device": str(dev), "torch": torch.__version__,
                      "card": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}))


if __name__ == "__main__":
    main()
