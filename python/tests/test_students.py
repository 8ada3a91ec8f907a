"""asdm students in diffusers, end to end, against the asdm binary.

A tiny teacher pipeline (the reference fixture's SD pipeline with a deeper random UNet: two stages,
two layers, two transformer blocks per attention) gives five students built by `asdm build`: a
removal-only one, a CLME-CondConv one (routers set to random values, so the expert mixing is
exercised), a GRI one, the BK-SDM "small" preset and a uniform removal of every attention's second
transformer block. For each, asdm_diffusers' UNet gives `asdm forward`'s output, and a
StableDiffusionPipeline with it gives `asdm generate --unet`'s image from the same noise. The stock
exports load in plain diffusers and match; the CLME student trains; save_pretrained round-trips.

Environment: ASDM_BIN (the asdm binary), ASDM_REFERENCE_DIR (the reference fixture's folder, with
pipeline/sd), ASDM_TEST_DIR (a scratch folder; a temporary one when unset).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import load_file, save_file

import asdm_diffusers as ad

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))
from make_reference import perturb  # noqa: E402

ASDM = os.environ.get("ASDM_BIN", str(ROOT / "build" / "asdm"))
REFERENCE = Path(os.environ.get("ASDM_REFERENCE_DIR", ROOT / "build" / "reference")) / "pipeline" / "sd"
WORK = Path(os.environ.get("ASDM_TEST_DIR") or tempfile.mkdtemp(prefix="asdm_diffusers_"))

TEACHER_UNET = dict(
    block_out_channels=[16, 32], down_block_types=["CrossAttnDownBlock2D"] * 2,
    up_block_types=["CrossAttnUpBlock2D"] * 2, layers_per_block=2, transformer_layers_per_block=2,
    norm_num_groups=8, attention_head_dim=4, sample_size=8, cross_attention_dim=32)
ATTENTIONS = ([f"down_blocks.{i}.attentions.{j}" for i in (0, 1) for j in (0, 1)] + ["mid_block.attentions.0"]
              + [f"up_blocks.{i}.attentions.{j}" for i in (0, 1) for j in (0, 1, 2)])
STUDENTS = {
    "removal": [{"op": "remove", "unit": u} for u in
                ["down_blocks.0.resnets.1", "up_blocks.1.attentions.0", "mid_block.resnets.1",
                 "down_blocks.1.attentions.1.transformer_blocks.0"]],
    "clme": [{"op": "remove", "unit": "up_blocks.0.resnets.1"}, {"op": "remove", "unit": "mid_block.resnets.1"},
             {"op": "clme", "unit": "up_blocks.0.resnets.0", "experts": ["up_blocks.0.resnets.1"]},
             {"op": "clme", "unit": "mid_block.resnets.0", "experts": ["mid_block.resnets.1"]}],
    "gri": [{"op": "gri", "unit": "down_blocks.0.attentions.0", "window": 4, "pool": 2},
            {"op": "gri", "unit": "up_blocks.1.attentions.2", "window": 4, "pool": 0}],
    "uniform": [{"op": "remove", "unit": f"{a}.transformer_blocks.1"} for a in ATTENTIONS],
}
PROMPT = "a photo of an astronaut riding a horse"
SEED = 7


def asdm(*args, check=True):
    r = subprocess.run([ASDM, "-q", *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"asdm {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def inputs():
    g = torch.Generator().manual_seed(0)
    return {"sample": torch.randn(2, 4, 8, 8, generator=g), "timestep": torch.tensor([10, 700]),
            "encoder_hidden_states": torch.randn(2, 7, 32, generator=g)}


def tolerance(ref):
    return 1e-4 + 1e-4 * ref.abs().max().item()


def python_forward(unet):
    x = inputs()
    with torch.no_grad():
        return unet(x["sample"], x["timestep"], encoder_hidden_states=x["encoder_hidden_states"]).sample


def asdm_forward(unet_dir):
    save_file(inputs(), str(WORK / "inputs.safetensors"))
    out = WORK / f"forward-{unet_dir.parent.name}.safetensors"
    asdm("forward", "--model", unet_dir, "--inputs", WORK / "inputs.safetensors", "-o", out)
    return load_file(str(out))["out_sample"]


def setUpModule():
    if not (REFERENCE / "model_index.json").exists():
        raise unittest.SkipTest(f"no reference pipeline at {REFERENCE} (the reference fixture makes it)")
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    teacher = WORK / "teacher"
    shutil.copytree(REFERENCE, teacher)
    shutil.rmtree(teacher / "unet")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**TEACHER_UNET).eval()
    perturb(unet, torch.Generator().manual_seed(3))
    unet.save_pretrained(teacher / "unet", safe_serialization=True)
    config = json.loads((teacher / "unet" / "config.json").read_text())
    for name, edits in STUDENTS.items():
        arch = WORK / f"{name}.arch.json"
        arch.write_text(json.dumps({"teacher_config": config, "edits": edits}))
        asdm("build", "--teacher", teacher, "--arch", arch, "-o", WORK / name)
    asdm("build", "--teacher", teacher, "--preset", "small", "-o", WORK / "preset")
    # Routers away from zero, so that the experts take part.
    weights = WORK / "clme" / "unet" / ad.student.WEIGHTS_FILE
    state = load_file(str(weights))
    g = torch.Generator().manual_seed(5)
    for k in state:
        if ".router." in k:
            state[k] = torch.randn(state[k].shape, generator=g) * 0.3
    save_file(state, str(weights))


class Students(unittest.TestCase):
    def test_forward_matches_asdm(self):
        for name in ["removal", "clme", "gri", "preset", "uniform"]:
            with self.subTest(student=name):
                ref = asdm_forward(WORK / name / "unet")
                got = python_forward(ad.load_student(WORK / name))
                self.assertLessEqual((got - ref).abs().max().item(), tolerance(ref))

    def test_pipeline_image_matches_asdm_generate(self):
        pipe = StableDiffusionPipeline.from_pretrained(WORK / "teacher", safety_checker=None,
                                                       requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(SEED * 1000003))
        for name in ["removal", "clme", "gri", "preset"]:
            with self.subTest(student=name):
                png = WORK / f"gen-{name}.png"
                asdm("generate", "--model", WORK / "teacher", "--unet", WORK / name / "unet", "--prompt", PROMPT,
                     "--steps", 4, "--guidance", 7.5, "--seed", SEED, "--tensors", "-o", png)
                ref = load_file(str(png.with_suffix(".safetensors")))["images"]
                pipe.unet = ad.load_student(WORK / name)
                with torch.no_grad():
                    img = pipe([PROMPT], num_inference_steps=4, guidance_scale=7.5, latents=latents.clone(),
                               output_type="np").images
                got = torch.from_numpy(img).permute(0, 3, 1, 2)
                self.assertLessEqual((got - ref).abs().max().item(), 1e-3)

    def test_stock_exports_load_in_plain_diffusers(self):
        for name in ["preset", "uniform"]:
            with self.subTest(student=name):
                ref = python_forward(ad.load_student(WORK / name))
                out = WORK / f"export-{name}"
                asdm("export", "--student", WORK / name, "--format", "diffusers", "-o", out)
                self.assertFalse((out / "unet" / "asdm_arch.json").exists())
                plain = UNet2DConditionModel.from_pretrained(out / "unet").eval()
                self.assertEqual(type(plain), UNet2DConditionModel)
                self.assertLessEqual((python_forward(plain) - ref).abs().max().item(), tolerance(ref))
                file = WORK / f"export-{name}.safetensors"
                asdm("export", "--student", WORK / name, "--format", "single-file", "-o", file)
                single = UNet2DConditionModel.from_single_file(str(file), config=str(out), subfolder="unet").eval()
                self.assertLessEqual((python_forward(single) - ref).abs().max().item(), tolerance(ref))
        # The whole exported pipeline loads as a stock pipeline.
        StableDiffusionPipeline.from_pretrained(WORK / "export-preset", safety_checker=None,
                                                requires_safety_checker=False)

    def test_students_without_a_stock_form_are_refused(self):
        out = WORK / "export-removal"
        r = asdm("export", "--student", WORK / "removal", "--format", "diffusers", "-o", out, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("edit remove down_blocks.0.resnets.1", r.stderr)
        self.assertFalse(out.exists())

    def test_clme_student_trains(self):
        unet = ad.load_student(WORK / "clme").train()
        x = inputs()
        unet(x["sample"], x["timestep"], encoder_hidden_states=x["encoder_hidden_states"]).sample.square().mean().backward()
        convs = [m for m in unet.modules() if isinstance(m, ad.ClmeConv2d)]
        # up_blocks.0.resnets.0 and mid_block.resnets.0: their experts fit both convolutions.
        self.assertEqual(len(convs), 4)
        for m in convs:
            self.assertGreater(m.router.weight.grad.abs().sum().item(), 0)
            self.assertGreater(m.experts[0].weight.grad.abs().sum().item(), 0)

    def test_save_pretrained_round_trips(self):
        unet = ad.load_student(WORK / "clme")
        out = WORK / "resaved"
        unet.save_pretrained(out)
        self.assertTrue((out / "asdm_arch.json").exists())
        again = ad.AsdmUNet2DConditionModel.from_pretrained(out)
        ref = python_forward(unet)
        self.assertTrue(torch.equal(python_forward(again), ref))
        self.assertLessEqual((asdm_forward(out) - ref).abs().max().item(), tolerance(ref))

    def test_bad_folders_are_clear_errors(self):
        with self.assertRaisesRegex(ValueError, "not a UNet folder"):
            ad.load_student(WORK / "nothing-here")
        bad = WORK / "mismatch"
        shutil.copytree(WORK / "removal" / "unet", bad)
        arch = json.loads((bad / "asdm_arch.json").read_text())
        arch["edits"].append({"op": "remove", "unit": "down_blocks.1.resnets.0"})
        (bad / "asdm_arch.json").write_text(json.dumps(arch))
        with self.assertRaisesRegex(ValueError, "does not match the student's architecture"):
            ad.load_student(bad)


if __name__ == "__main__":
    unittest.main()
