#!/usr/bin/env python3
"""asdm init's pipeline in diffusers: `asdm init` writes a random tiny pipeline, diffusers'
StableDiffusionPipeline.from_pretrained loads it (tokenizer, text encoder, UNet, VAE, scheduler),
and from the same noise gives the image `asdm generate --tensors` gives (within 1e-3).

usage: init_diffusers_check.py ASDM_BIN CONFIG WORK_DIR
"""
import shutil
import subprocess
import sys
from pathlib import Path

import diffusers
import torch
import transformers
from diffusers import StableDiffusionPipeline
from safetensors.torch import load_file

PROMPT = "a photo of an astronaut riding a horse"
SEED = 5


def main(asdm, config, work):
    work = Path(work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    pipe_dir = work / "pipe"

    def run(*args):
        r = subprocess.run([asdm, "-q", *map(str, args)], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"asdm {' '.join(map(str, args))} failed: {r.stderr}")

    run("init", "--config", config, "-o", pipe_dir, "--seed", 1)
    run("generate", "--model", pipe_dir, "--prompt", PROMPT, "--steps", 3, "--guidance", 7.5, "--seed", SEED,
        "--resolution", 64, "--tensors", "-o", work / "asdm.png")
    ref = load_file(str(work / "asdm.safetensors"))["images"]

    pipe = StableDiffusionPipeline.from_pretrained(pipe_dir)
    pipe.set_progress_bar_config(disable=True)
    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(SEED * 1000003))
    with torch.no_grad():
        img = pipe([PROMPT], num_inference_steps=3, guidance_scale=7.5, latents=latents, height=64, width=64,
                   output_type="np").images
    got = torch.from_numpy(img).permute(0, 3, 1, 2)
    diff = (got - ref).abs().max().item()
    print(f"diffusers {diffusers.__version__}, transformers {transformers.__version__}: "
          f"max |image difference| {diff:.2e}")
    if not diff <= 1e-3:
        sys.exit(f"asdm generate and diffusers differ by {diff} on the asdm init pipeline")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
