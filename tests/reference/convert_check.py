#!/usr/bin/env python3
"""asdm convert's folders in diffusers: the reference single files (make_pipeline_reference.py's
sd.safetensors and the full training checkpoint sd_lightning.ckpt, and SDXL's) converted by
`asdm convert` load with diffusers' from_pretrained, and every component's state dict equals the
original folder's, tensor for tensor.

usage: convert_check.py ASDM_BIN REFERENCE_PIPELINE_DIR WORK_DIR
"""
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline


def main(asdm, ref, work):
    ref, work = Path(ref), Path(work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for family, cls in (("sd", StableDiffusionPipeline), ("sdxl", StableDiffusionXLPipeline)):
        original = cls.from_pretrained(ref / family)
        for source in (f"{family}.safetensors", f"{family}_lightning.ckpt"):
            out = work / source.replace(".", "_")
            subprocess.run([asdm, "-q", "convert", "--model", str(ref / source), "--config",
                            str(ref / family), "-o", str(out)], check=True)
            converted = cls.from_pretrained(out, use_safetensors=True)
            for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
                if not hasattr(original, part):
                    continue
                a = getattr(original, part).state_dict()
                b = getattr(converted, part).state_dict()
                assert a.keys() == b.keys(), (source, part, sorted(set(a) ^ set(b))[:5])
                for k in a:
                    assert torch.equal(a[k], b[k]), (source, part, k)
            print(f"{source}: asdm convert -> from_pretrained gives the folder's weights")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
