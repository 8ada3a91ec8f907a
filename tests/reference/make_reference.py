#!/usr/bin/env python3
"""Reference outputs from the real diffusers library, for asdm's C++ UNet to reproduce.

For each variant below: build diffusers' UNet2DConditionModel from the config, perturb every
parameter with seeded noise (so norm affines and biases matter), save it with save_pretrained
(safetensors), run one forward on seeded inputs and write io.safetensors with the inputs,
`out_sample` and `act.<module path>` for every unit and block (the naming of the shared fixture).

Also schedulers.safetensors: diffusers' DDIM, Euler, DPM-Solver++ 2M and PNDM schedulers (SD's
settings) driving a fixed toy model (out = tanh(x) * t / 1000 + 0.05 x) from a seeded sample, per
case the timesteps and the final sample.

usage: make_reference.py OUT_DIR
"""
import json
import os
import sys

import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, PNDMScheduler,
                       UNet2DConditionModel)
from safetensors.torch import save_file

BASE = {
    "block_out_channels": [16, 32, 48],
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "layers_per_block": 2,
    "norm_num_groups": 8,
    "cross_attention_dim": 24,
    "sample_size": 16,
}

VARIANTS = {
    # SDXL-style: linear projections, per-stage head counts, several transformer layers per block,
    # the text_time added embedding.
    "sdxl_like": dict(
        BASE,
        use_linear_projection=True,
        attention_head_dim=[2, 4, 6],
        transformer_layers_per_block=[1, 2, 3],
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=20 + 6 * 8,
        down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    ),
    # The other options asdm implements: scale-shift time conditioning, a timestep condition,
    # attention-free mid block, padding-0 downsampling, per-stage layers, 1x1 conv_in, sin/cos
    # order and shift, centred input, only-cross-attention, upcast attention, odd latent sizes, and
    # a projection class embedding (the proxy world's pooled text embedding).
    "options": dict(
        BASE,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        time_cond_proj_dim=12,
        mid_block_type="UNetMidBlock2D",
        downsample_padding=0,
        layers_per_block=[1, 2, 1],
        conv_in_kernel=1,
        conv_out_kernel=5,
        flip_sin_to_cos=False,
        freq_shift=1,
        center_input_sample=True,
        only_cross_attention=[True, False, False],
        upcast_attention=True,
        mid_block_scale_factor=1.5,
        class_embed_type="projection",
        projection_class_embeddings_input_dim=10,
    ),
    # SD 2.x-style: linear projections with a shared head count and no mid block.
    "sd2_like": dict(BASE, use_linear_projection=True, attention_head_dim=[2, 4, 4], mid_block_type=None),
}

SIZES = {"sdxl_like": (16, 16), "options": (13, 10), "sd2_like": (16, 16)}


def perturb(model, gen):
    with torch.no_grad():
        for p in model.parameters():
            std = p.float().std().item() if p.numel() > 1 else 0.0
            scale = 0.1 * std if std > 0 else 0.1
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def capture_names(model):
    """Module paths whose outputs asdm captures (units and blocks)."""
    names = []
    for name, _ in model.named_modules():
        parts = name.split(".")
        if name in ("conv_in", "time_embedding", "add_embedding", "class_embedding", "conv_norm_out", "conv_out",
                    "mid_block"):
            names.append(name)
        elif len(parts) == 2 and parts[0] in ("down_blocks", "up_blocks"):
            names.append(name)
        elif len(parts) >= 2 and parts[-2] in ("resnets", "attentions", "downsamplers", "upsamplers", "transformer_blocks"):
            names.append(name)
    return names


def main(out_dir):
    torch.set_num_threads(2)
    for variant, cfg in VARIANTS.items():
        d = os.path.join(out_dir, variant)
        os.makedirs(d, exist_ok=True)
        torch.manual_seed(0)
        model = UNet2DConditionModel(**cfg).eval()
        perturb(model, torch.Generator().manual_seed(1))
        model.save_pretrained(d, safe_serialization=True)

        gen = torch.Generator().manual_seed(2)
        h, w = SIZES[variant]
        B = 2
        inputs = {
            "sample": torch.randn(B, 4, h, w, generator=gen),
            "timestep": torch.tensor([3, 700], dtype=torch.int64),
            "encoder_hidden_states": torch.randn(B, 7, cfg["cross_attention_dim"], generator=gen),
        }
        added = None
        if cfg.get("addition_embed_type") == "text_time":
            inputs["text_embeds"] = torch.randn(B, 20, generator=gen)
            inputs["time_ids"] = torch.tensor([[64.0, 48.0, 0.0, 2.0, 64.0, 48.0], [32.0, 32.0, 4.0, 0.0, 32.0, 32.0]])
            added = {"text_embeds": inputs["text_embeds"], "time_ids": inputs["time_ids"]}
        cond = None
        if cfg.get("time_cond_proj_dim"):
            inputs["timestep_cond"] = torch.randn(B, cfg["time_cond_proj_dim"], generator=gen)
            cond = inputs["timestep_cond"]

        labels = None
        if cfg.get("class_embed_type") == "projection":
            inputs["class_labels"] = torch.randn(B, cfg["projection_class_embeddings_input_dim"], generator=gen)
            labels = inputs["class_labels"]

        acts = {}
        hooks = []
        modules = dict(model.named_modules())
        for name in capture_names(model):
            def hook(_m, _i, out, name=name):
                t = out[0] if isinstance(out, (tuple, list)) else out
                if hasattr(t, "sample"):
                    t = t.sample
                acts["act." + name] = t.detach().clone()
            hooks.append(modules[name].register_forward_hook(hook))
        with torch.no_grad():
            out = model(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                        timestep_cond=cond, added_cond_kwargs=added, class_labels=labels, return_dict=False)[0]
        for hk in hooks:
            hk.remove()
        tensors = dict(inputs)
        tensors["out_sample"] = out
        tensors.update(acts)
        tensors = {k: v.contiguous() for k, v in tensors.items()}
        save_file(tensors, os.path.join(d, "io.safetensors"), metadata={"format": "pt"})
        print(f"{variant}: {len(acts)} activations, out {tuple(out.shape)}")


# name -> (scheduler class, prediction type, timestep spacing, steps)
SCHEDULER_CASES = {
    "ddim_epsilon_leading_25": (DDIMScheduler, "epsilon", "leading", 25),
    "euler_v_prediction_leading_20": (EulerDiscreteScheduler, "v_prediction", "leading", 20),
    "dpm++2m_epsilon_leading_25": (DPMSolverMultistepScheduler, "epsilon", "leading", 25),
    "dpm++2m_v_prediction_linspace_20": (DPMSolverMultistepScheduler, "v_prediction", "linspace", 20),
    "dpm++2m_epsilon_trailing_12": (DPMSolverMultistepScheduler, "epsilon", "trailing", 12),
    "pndm_epsilon_leading_25": (PNDMScheduler, "epsilon", "leading", 25),
    "pndm_v_prediction_leading_10": (PNDMScheduler, "v_prediction", "leading", 10),
    "pndm_epsilon_trailing_7": (PNDMScheduler, "epsilon", "trailing", 7),
}


def toy_model(x, t):
    return torch.tanh(x) * (float(t) / 1000.0) + 0.05 * x


def schedulers(out_dir):
    init = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    tensors = {"init": init}
    for name, (cls, prediction, spacing, steps) in SCHEDULER_CASES.items():
        kwargs = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                      prediction_type=prediction, timestep_spacing=spacing, steps_offset=1)
        if cls in (DDIMScheduler, PNDMScheduler):
            kwargs["set_alpha_to_one"] = False
        if cls is DDIMScheduler:
            kwargs["clip_sample"] = False  # SD's setting (the class default clips x0 to [-1, 1])
        if cls is PNDMScheduler:
            kwargs["skip_prk_steps"] = True
        sched = cls(**kwargs)
        sched.set_timesteps(steps)
        x = init * sched.init_noise_sigma
        for t in sched.timesteps:
            x = sched.step(toy_model(sched.scale_model_input(x, t), t), t, x).prev_sample
        tensors[name + ".timesteps"] = sched.timesteps.to(torch.float64)
        tensors[name + ".out"] = x.contiguous()
    save_file(tensors, os.path.join(out_dir, "schedulers.safetensors"), metadata={"format": "pt"})
    print(f"schedulers: {len(SCHEDULER_CASES)} cases")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
    schedulers(sys.argv[1])
