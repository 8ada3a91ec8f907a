#!/usr/bin/env python3
"""asdm's metric feature extraction against the reference packages, side by side (issue 19).

Same torch, threads, weights and images: a batch of uint8 images goes through
  * pytorch-fid's InceptionV3 (its resize and 2048-d features) vs asdm's kPytorchFid path,
  * torch-fidelity's FeatureExtractorInceptionV3 (2048-d + unbiased logits) vs asdm's,
  * torchmetrics' CLIPScore image path (the transformers processor + get_image_features, normalised)
    vs asdm's CLIP scorer, on a CLIP ViT-B/32-sized model.
Weights are random (the real architectures), built once into --workdir. Rounds alternate the
packages and build/asdm_eval_bench so that a drifting machine affects both; images/s are printed
per package and the ratio asdm / package (> 1: asdm is faster).

usage: .venv/bin/python bench/compare_metrics.py [--batch 16] [--size 256] [--threads 2]
           [--runs 6] [--rounds 2] [--bench build/asdm_eval_bench] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from make_eval_reference import clip_vocab_files, fid_inception  # noqa: E402


def build(workdir):
    os.makedirs(workdir, exist_ok=True)
    inception = os.path.join(workdir, "inception.pth")
    if not os.path.exists(inception):
        torch.save(fid_inception(7).state_dict(), inception)
    clip_dir = os.path.join(workdir, "clip-vit-b32")
    if not os.path.exists(os.path.join(clip_dir, "model.safetensors")):
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer
        os.makedirs(clip_dir, exist_ok=True)
        clip_vocab_files(clip_dir)
        torch.manual_seed(0)
        CLIPModel(CLIPConfig()).save_pretrained(clip_dir)  # the defaults are ViT-B/32
        CLIPTokenizer(os.path.join(clip_dir, "vocab.json"), os.path.join(clip_dir, "merges.txt")).save_pretrained(clip_dir)
        CLIPImageProcessor().save_pretrained(clip_dir)
    return inception, clip_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=6, help="timed batches per side and case in all")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "asdm_eval_bench"))
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench-cache", "eval"))
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    inception, clip_dir = build(a.workdir)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (a.batch, 3, a.size, a.size), dtype=np.uint8))
    images_path = os.path.join(a.workdir, f"images-{a.batch}-{a.size}.safetensors")
    save_file({"images": images}, images_path)

    import pytorch_fid.inception as pi
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from transformers import CLIPModel, CLIPProcessor
    pi.load_state_dict_from_url = lambda *x, **k: torch.load(inception)
    pfid = pi.InceptionV3([3]).eval()
    tfid = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                       feature_extractor_weights_path=inception)
    clip = CLIPModel.from_pretrained(clip_dir).eval()
    processor = CLIPProcessor.from_pretrained(clip_dir)
    as_float = images.float() / 255
    image_list = list(images)

    def clip_images():
        e = clip.get_image_features(pixel_values=processor(images=image_list, return_tensors="pt")["pixel_values"])
        e = e if torch.is_tensor(e) else e.pooler_output
        return e / e.norm(dim=-1, keepdim=True)

    cases = {
        "pytorch-fid": (lambda: pfid(as_float), "BM_InceptionPytorchFid"),
        "torch-fidelity": (lambda: tfid(images), "BM_InceptionTorchFidelity"),
        "torchmetrics CLIP": (clip_images, "BM_ClipImage"),
    }

    def python_runs(fn, n):
        out = []
        with torch.no_grad():
            fn()
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
        return out

    def asdm_runs(n):
        env = dict(os.environ, ASDM_BENCH_INCEPTION=inception, ASDM_BENCH_CLIP=clip_dir, ASDM_BENCH_IMAGES=images_path,
                   ASDM_BENCH_THREADS=str(a.threads), ASDM_BENCH_REPETITIONS=str(n))
        r = subprocess.run([a.bench, "--benchmark_format=json"], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{a.bench} failed:\n{r.stderr}")
        out = {}
        for row in json.loads(r.stdout)["benchmarks"]:
            if row.get("run_type") == "iteration":
                out.setdefault(row["run_name"].split("/")[0], []).append(row["real_time"] / 1e3)
        return out

    per_round = max(1, a.runs // a.rounds)
    py = {k: [] for k in cases}
    ours = {v[1]: [] for v in cases.values()}
    for i in range(a.rounds):
        for name, (fn, _) in cases.items():
            py[name] += python_runs(fn, per_round)
        for k, v in asdm_runs(per_round).items():
            ours[k] += v
        print(f"round {i + 1}/{a.rounds} done", flush=True)
    print(f"\nbatch {a.batch} of {a.size}x{a.size} uint8, fp32, {a.threads} threads, torch {torch.__version__}")
    result = {"batch": a.batch, "size": a.size, "threads": a.threads, "torch": torch.__version__, "cases": {}}
    for name, (_, bench) in cases.items():
        ref = a.batch / statistics.median(py[name])
        mine = a.batch / statistics.median(ours[bench])
        print(f"{name:<18} {ref:8.2f} images/s   asdm {mine:8.2f} images/s   asdm / package {mine / ref:.3f}")
        result["cases"][name] = {"package_images_per_s": ref, "asdm_images_per_s": mine, "package_s": py[name],
                                 "asdm_s": ours[bench]}
    if a.json:
        json.dump(result, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
