#!/usr/bin/env python3
"""Reference outputs from the real transformers and diffusers libraries for asdm's pipeline parts
(issue 9): the CLIP tokenizer, CLIP text encoders, the VAE and whole tiny pipelines. Everything is
built from tiny configs with seeded, perturbed random weights; nothing is downloaded.

OUT_DIR/pipeline/
  tokenizers/{eot,bang,json}/   CLIP tokenizers (BPE trained here on a small corpus, CLIP's layout:
                                bytes, bytes + "</w>", merges, specials); pad "<|endoftext|>" (SD 1.x),
                                pad "!" (SD 2.x), and a tokenizer.json-only copy
  tokenizer_cases.json          awkward prompts and each tokenizer's ids (padded, truncated to 77)
  text_encoders/{clip,clip_proj}/ CLIPTextModel (quick_gelu, legacy eos id 2) and
                                CLIPTextModelWithProjection (gelu, real eos id)
  text_encoders.safetensors     ids, last hidden state, hidden_states[-2], pooled output per model
  vae/ + vae_io.safetensors     AutoencoderKL: decode(latents / scaling_factor), encode(image).mean
  vae_deprecated/               the same VAE with diffusers < 0.14's attention names, in a .bin
  sd/, sdxl/ + *_io.safetensors tiny StableDiffusionPipeline (PNDM) and StableDiffusionXLPipeline
                                (Euler) folders, their noise and output images (output_type="np")
  sd_fp16_sharded/, sdxl_fp16_sharded/  the same pipelines saved with variant="fp16" and
                                max_shard_size="100KB" (every component sharded, variant file names),
                                read back by diffusers' from_pretrained(variant="fp16") to the same images
  sd_bin/, sdxl_bin/            the same pipelines with torch.save weights, as older repositories hold
                                them: sharded diffusion_pytorch_model-*.bin + .bin.index.json, and
                                the text encoders' pytorch_model.bin; read back by diffusers
  sd.safetensors, sdxl.safetensors  the same pipelines as original single-file checkpoints (LDM / SGM
                                key names: model.diffusion_model., first_stage_model.,
                                cond_stage_model.transformer. / conditioner.embedders.N.), written by
                                to_single_file() below and checked by loading them back with diffusers'
                                own from_single_file (the tensors must come back identical)
  sd_fp8.safetensors, ...       the same in float8_e4m3fn, and those values in float32 (_fp8_upcast)
  sd.ckpt, sdxl.ckpt            the same as torch.save files {"state_dict", "global_step", "epoch"},
                                read back by diffusers' from_single_file
  sd_lightning.ckpt, sdxl_lightning.ckpt  full training checkpoints as SD's original releases are:
                                tensors as views of one shared storage (some transposed), an EMA
                                copy, optimizer state and a pickled Lightning callback object

usage: make_pipeline_reference.py OUT_DIR
"""
import json
import os
import pickle
import shutil
import sys

import numpy as np
import torch
from diffusers import (AutoencoderKL, EulerDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline,
                       StableDiffusionXLPipeline, UNet2DConditionModel)
from safetensors.torch import save_file
from tokenizers import pre_tokenizers, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import perturb  # noqa: E402

CORPUS = [
    "a photo of an astronaut riding a horse on mars",
    "a red circle at the top left and a blue square",
    "Portrait of a cat, highly detailed, 8k, trending on artstation",
    "the quick brown fox jumps over the lazy dog",
    "café crème brûlée naïve résumé",
    "東京の夜景 ネオン",
    "Ελληνικά γράμματα",
    "don't you'll we've they're I'm he'd it's",
] * 3

PROMPTS = [
    "a photo of an astronaut riding a horse on mars",
    "Hello, world!! it's a café",
    "  leading and trailing   spaces\t\n",
    "UPPER case AND MiXeD",
    "don't you'll we've they're I'm he'd it's 'RE 'S",
    "e\u0301 \u212b A\u030a (combining vs precomposed)",
    "Tie\u0302\u0301ng Vie\u0323\u0302t a\u0302\u0323 a\u0323\u0302",
    "\ufb01 ligature \u2460 \u00bd \u00b2 \u0663\u0664 12345 3.14",
    "東京の夜景 ネオン 한국어 \u1100\u1161\u11a8",
    "emoji 🚀🔥 and zwj 👩\u200d💻",
    "A <|endoftext|> B <|startoftext|> C",
    "<|ENDOFTEXT|> and !!!???...,,,",
    "\u0130STANBUL \u039f\u0394\u039f\u03a3 \u1e9e",
    "non\u00a0breaking\u2003spaces\u200bzero-width\u0085next",
    "",
    "word " * 100,
]


def build_tokenizers(out):
    tmp = CLIPTokenizer(vocab={"<|startoftext|>": 0, "<|endoftext|>": 1}, merges=[])
    bt = tmp.backend_tokenizer
    bt.train_from_iterator(CORPUS, trainer=trainers.BpeTrainer(
        vocab_size=700, min_frequency=2, end_of_word_suffix="</w>",
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    merges = [" ".join(p) for p in json.loads(bt.to_str())["model"]["merges"]]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {}
    for t in alphabet + [a + "</w>" for a in alphabet] + [m.replace(" ", "") for m in merges] + \
            ["<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(t, len(vocab))
    dirs = {}
    for name, pad in (("eot", "<|endoftext|>"), ("bang", "!")):
        d = os.path.join(out, "tokenizers", name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "pad_token": pad,
                       "bos_token": {"__type": "AddedToken", "content": "<|startoftext|>", "lstrip": False,
                                     "normalized": True, "rstrip": False, "single_word": False},
                       "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}, f)
        dirs[name] = d
    # The same tokenizer as a tokenizer.json alone (the tokenizers library's own file).
    d = os.path.join(out, "tokenizers", "json")
    os.makedirs(d, exist_ok=True)
    CLIPTokenizer.from_pretrained(dirs["eot"]).backend_tokenizer.save(os.path.join(d, "tokenizer.json"))
    shutil.copy(os.path.join(dirs["eot"], "tokenizer_config.json"), d)
    dirs["json"] = d
    cases = {"prompts": PROMPTS, "ids": {}}
    for name, path in dirs.items():
        tok = CLIPTokenizer.from_pretrained(path)
        cases["ids"][name] = tok(PROMPTS, padding="max_length", max_length=77, truncation=True).input_ids
    with open(os.path.join(out, "tokenizer_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    print(f"tokenizers: {len(vocab)} tokens, {len(merges)} merges, {len(PROMPTS)} prompts")
    return dirs


def text_config(**kw):
    base = dict(vocab_size=701, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=699, eos_token_id=2,
                pad_token_id=700)
    base.update(kw)
    return CLIPTextConfig(**base)


def text_encoders(out, tok_dirs):
    tok = CLIPTokenizer.from_pretrained(tok_dirs["eot"])
    ids = torch.tensor(tok(PROMPTS[:4], padding="max_length", max_length=77, truncation=True).input_ids)
    tensors = {"ids": ids}
    models = {
        "clip": CLIPTextModel(text_config()),
        "clip_proj": CLIPTextModelWithProjection(text_config(hidden_size=24, hidden_act="gelu", eos_token_id=700,
                                                             projection_dim=20, num_hidden_layers=4)),
    }
    for name, model in models.items():
        torch.manual_seed(0)
        perturb(model, torch.Generator().manual_seed(5))
        model.eval()
        model.save_pretrained(os.path.join(out, "text_encoders", name), safe_serialization=True)
        with torch.no_grad():
            o = model(ids, output_hidden_states=True)
        tensors[name + ".last"] = o.last_hidden_state
        tensors[name + ".penultimate"] = o.hidden_states[-2]
        tensors[name + ".pooled"] = o.text_embeds if name == "clip_proj" else o.pooler_output
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "text_encoders.safetensors"))
    print(f"text encoders: {', '.join(models)}")


def tiny_vae(seed):
    torch.manual_seed(seed)
    vae = AutoencoderKL(block_out_channels=[8, 16, 16], layers_per_block=1, norm_num_groups=4, latent_channels=4,
                        sample_size=32, down_block_types=["DownEncoderBlock2D"] * 3,
                        up_block_types=["UpDecoderBlock2D"] * 3).eval()
    perturb(vae, torch.Generator().manual_seed(seed + 1))
    return vae


def vae_reference(out):
    vae = tiny_vae(7)
    vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    gen = torch.Generator().manual_seed(8)
    latents = torch.randn(2, 4, 5, 6, generator=gen)
    image = torch.rand(2, 3, 16, 24, generator=gen) * 2 - 1
    with torch.no_grad():
        decoded = vae.decode(latents / vae.config.scaling_factor).sample
        mean = vae.encode(image).latent_dist.mean * vae.config.scaling_factor
    save_file({"latents": latents, "decoded": decoded.contiguous(), "image": image, "encoded": mean.contiguous()},
              os.path.join(out, "vae_io.safetensors"))
    # The same VAE as diffusers before 0.14 saved it (SD 1.4's and 1.5's VAE on the Hub): the mid
    # blocks' attention as query/key/value/proj_attn, in a .bin; diffusers renames them on load.
    old = os.path.join(out, "vae_deprecated")
    os.makedirs(old, exist_ok=True)
    shutil.copy(os.path.join(out, "vae", "config.json"), old)
    renames = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    state = {}
    for k, v in vae.state_dict().items():
        for new, dep in renames.items():
            if ".mid_block.attentions." in k and f".{new}." in k:
                k = k.replace(f".{new}.", f".{dep}.")
        state[k] = v
    assert any(".proj_attn." in k for k in state)
    torch.save(state, os.path.join(old, "diffusion_pytorch_model.bin"))
    back = AutoencoderKL.from_pretrained(old)
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), vae.state_dict().values()))
    print(f"vae: decoded {tuple(decoded.shape)}, encoded {tuple(mean.shape)}")


UNET = dict(block_out_channels=[16, 32], down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
            up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], layers_per_block=1, norm_num_groups=8,
            attention_head_dim=4, sample_size=8)
SD_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    steps_offset=1)


def save_sharded_variant(pipe, path, run):
    """The pipeline as diffusers writes a variant in shards (`variant="fp16"`: the weights stay
    float32, the variant is only the file names), checked by loading it back with diffusers'
    variant= and getting the same images."""
    pipe.save_pretrained(path, safe_serialization=True, variant="fp16", max_shard_size="100KB")
    for part, stem in (("unet", "diffusion_pytorch_model"), ("text_encoder", "model"), ("vae", "diffusion_pytorch_model")):
        index = os.path.join(path, part, stem + ".safetensors.index.fp16.json")
        assert os.path.exists(index), f"{index}: expected a sharded fp16 variant"
    back = type(pipe).from_pretrained(path, variant="fp16")
    assert np.array_equal(run(back), run(pipe)), f"{path}: the variant gives other images"


def save_bin(pipe, path, run):
    """The pipeline as older repositories hold it: torch.save weights. diffusers writes its models
    as diffusion_pytorch_model.bin (here sharded, with diffusion_pytorch_model.bin.index.json);
    transformers 5 writes safetensors only, so the text encoders get the pytorch_model.bin that
    transformers 4 wrote (torch.save of the state dict). Checked by loading it back with diffusers."""
    import glob
    pipe.save_pretrained(path, safe_serialization=False, max_shard_size="100KB")
    assert os.path.exists(os.path.join(path, "unet", "diffusion_pytorch_model.bin.index.json"))
    for part in ("text_encoder", "text_encoder_2"):
        if not hasattr(pipe, part):
            continue
        for f in glob.glob(os.path.join(path, part, "model*.safetensors*")):
            os.remove(f)
        torch.save(getattr(pipe, part).state_dict(), os.path.join(path, part, "pytorch_model.bin"))
    assert not glob.glob(os.path.join(path, "*", "*.safetensors*")), "safetensors left in " + path
    back = type(pipe).from_pretrained(path, use_safetensors=False)
    assert np.array_equal(run(back), run(pipe)), f"{path}: the .bin folder gives other images"


def pipelines(out, tok_dirs):
    prompts = ["a photo of an astronaut riding a horse", "Hello, world!!"]
    gen = torch.Generator().manual_seed(11)
    noise = torch.randn(2, 4, 8, 8, generator=gen)

    # SD 1.x-like: one CLIP text encoder, PNDM (the BK-SDM protocol's scheduler).
    torch.manual_seed(12)
    unet = UNet2DConditionModel(cross_attention_dim=32, **UNET).eval()
    perturb(unet, torch.Generator().manual_seed(13))
    te = CLIPTextModel(text_config()).eval()
    perturb(te, torch.Generator().manual_seed(14))
    pipe = StableDiffusionPipeline(
        vae=tiny_vae(15), text_encoder=te, tokenizer=CLIPTokenizer.from_pretrained(tok_dirs["eot"]), unet=unet,
        scheduler=PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=False, **SD_SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(os.path.join(out, "sd"), safe_serialization=True)

    @torch.no_grad()
    def run_sd(p):
        return p(prompts, num_inference_steps=4, guidance_scale=7.5, latents=noise.clone(),
                 negative_prompt=["", "blurry"], output_type="np").images

    img = run_sd(pipe)
    save_sharded_variant(pipe, os.path.join(out, "sd_fp16_sharded"), run_sd)
    save_bin(pipe, os.path.join(out, "sd_bin"), run_sd)
    save_file({"noise": noise, "images": torch.from_numpy(img).permute(0, 3, 1, 2).contiguous()},
              os.path.join(out, "sd_io.safetensors"))
    to_single_file(pipe, os.path.join(out, "sd.safetensors"))

    # SDXL-like: two encoders (the second with projection), text_time conditioning, Euler, zeros for
    # the empty negative prompt.
    torch.manual_seed(16)
    unet = UNet2DConditionModel(cross_attention_dim=32 + 24, addition_embed_type="text_time",
                                addition_time_embed_dim=8, projection_class_embeddings_input_dim=20 + 6 * 8,
                                use_linear_projection=True, **UNET).eval()
    perturb(unet, torch.Generator().manual_seed(17))
    te1 = CLIPTextModel(text_config()).eval()
    perturb(te1, torch.Generator().manual_seed(18))
    te2 = CLIPTextModelWithProjection(text_config(hidden_size=24, hidden_act="gelu", eos_token_id=700,
                                                  projection_dim=20, num_hidden_layers=4)).eval()
    perturb(te2, torch.Generator().manual_seed(19))
    pipe = StableDiffusionXLPipeline(
        vae=tiny_vae(20), text_encoder=te1, text_encoder_2=te2,
        tokenizer=CLIPTokenizer.from_pretrained(tok_dirs["eot"]),
        tokenizer_2=CLIPTokenizer.from_pretrained(tok_dirs["bang"]), unet=unet,
        scheduler=EulerDiscreteScheduler(timestep_spacing="leading", **SD_SCHEDULER))
    pipe.save_pretrained(os.path.join(out, "sdxl"), safe_serialization=True)

    @torch.no_grad()
    def run_sdxl(p):
        return p(prompts, num_inference_steps=4, guidance_scale=5.0, latents=noise.clone(), output_type="np").images

    img = run_sdxl(pipe)
    save_sharded_variant(pipe, os.path.join(out, "sdxl_fp16_sharded"), run_sdxl)
    save_bin(pipe, os.path.join(out, "sdxl_bin"), run_sdxl)
    save_file({"noise": noise, "images": torch.from_numpy(img).permute(0, 3, 1, 2).contiguous()},
              os.path.join(out, "sdxl_io.safetensors"))
    to_single_file(pipe, os.path.join(out, "sdxl.safetensors"))
    print("pipelines: sd (PNDM), sdxl (Euler)")


RESNET_TO_LDM = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                 "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
FIXED_TO_LDM = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
                "time_embedding.linear_2": "time_embed.2", "add_embedding.linear_1": "label_emb.0.0",
                "add_embedding.linear_2": "label_emb.0.2", "conv_norm_out": "out.0", "conv_out": "out.2"}


def unet_to_ldm(sd, cfg):
    """diffusers UNet2DConditionModel keys -> the original LDM UNet's (model.diffusion_model.*)."""
    layers = cfg["layers_per_block"]
    n = len(cfg["block_out_channels"])
    layers = [layers] * n if isinstance(layers, int) else layers
    out = {}
    for key, t in sd.items():
        p = key.split(".")
        if key.rsplit(".", 1)[0] in FIXED_TO_LDM:
            new = FIXED_TO_LDM[key.rsplit(".", 1)[0]] + "." + p[-1]
        elif p[0] == "down_blocks":
            b, kind = int(p[1]), p[2]
            first = 1 + sum(l + 1 for l in layers[:b])
            if kind == "downsamplers":
                new = f"input_blocks.{first + layers[b]}.0.op." + ".".join(p[5:])
            else:
                rest = ".".join(p[4:])
                if kind == "resnets":
                    rest = RESNET_TO_LDM[p[4]] + "." + ".".join(p[5:])
                new = f"input_blocks.{first + int(p[3])}.{0 if kind == 'resnets' else 1}.{rest}"
        elif p[0] == "mid_block":
            idx = {("resnets", "0"): 0, ("attentions", "0"): 1, ("resnets", "1"): 2}[(p[1], p[2])]
            rest = RESNET_TO_LDM[p[3]] + "." + ".".join(p[4:]) if p[1] == "resnets" else ".".join(p[3:])
            new = f"middle_block.{idx}.{rest}"
        elif p[0] == "up_blocks":
            b, kind = int(p[1]), p[2]
            rev = list(reversed(layers))
            first = sum(l + 1 for l in rev[:b])
            has_attn = "CrossAttn" in cfg["up_block_types"][b]
            if kind == "upsamplers":
                new = f"output_blocks.{first + rev[b]}.{2 if has_attn else 1}.conv." + ".".join(p[5:])
            else:
                rest = ".".join(p[4:])
                if kind == "resnets":
                    rest = RESNET_TO_LDM[p[4]] + "." + ".".join(p[5:])
                new = f"output_blocks.{first + int(p[3])}.{0 if kind == 'resnets' else 1}.{rest}"
        else:
            raise KeyError(key)
        out["model.diffusion_model." + new] = t
    return out


def vae_to_ldm(sd):
    """diffusers AutoencoderKL keys -> first_stage_model.* (attention projections as 1x1 convs)."""
    n_up = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("decoder.up_blocks."))
    attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    out = {}
    for key, t in sd.items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        p = new.split(".")
        if p[1] in ("down_blocks", "up_blocks"):
            i = int(p[2]) if p[1] == "down_blocks" else n_up - 1 - int(p[2])
            word = "down" if p[1] == "down_blocks" else "up"
            if p[3] == "resnets":
                new = f"{p[0]}.{word}.{i}.block.{p[4]}." + ".".join(p[5:])
            else:
                new = f"{p[0]}.{word}.{i}.{'downsample' if word == 'down' else 'upsample'}.conv." + p[-1]
        elif p[1] == "mid_block":
            if p[2] == "resnets":
                new = f"{p[0]}.mid.block_{int(p[3]) + 1}." + ".".join(p[4:])
            else:
                name = ".".join(p[4:-1])
                new = f"{p[0]}.mid.attn_1.{attn[name]}.{p[-1]}"
                if t.dim() == 2:
                    t = t[:, :, None, None]
        out["first_stage_model." + new] = t
    return out


def clip_to_ldm(sd, prefix):
    return {prefix + (k if k.startswith("text_model.") else "text_model." + k): t for k, t in sd.items()
            if not k.endswith("position_ids")}


def open_clip_to_ldm(sd, prefix):
    """CLIPTextModelWithProjection keys -> OpenCLIP's (q/k/v fused into in_proj, projection transposed)."""
    sd = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): t for k, t in sd.items()}
    out = {prefix + "token_embedding.weight": sd["text_model.embeddings.token_embedding.weight"],
           prefix + "positional_embedding": sd["text_model.embeddings.position_embedding.weight"],
           prefix + "ln_final.weight": sd["text_model.final_layer_norm.weight"],
           prefix + "ln_final.bias": sd["text_model.final_layer_norm.bias"],
           prefix + "text_projection": sd["text_projection.weight"].T.contiguous()}
    names = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
             "self_attn.out_proj": "attn.out_proj"}
    i = 0
    while f"text_model.encoder.layers.{i}.layer_norm1.weight" in sd:
        src, dst = f"text_model.encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.in_proj_{kind}"] = torch.cat(
                [sd[src + f"self_attn.{x}_proj.{kind}"] for x in "qkv"]).contiguous()
            for a, b in names.items():
                out[dst + f"{b}.{kind}"] = sd[src + f"{a}.{kind}"]
        i += 1
    return out


def to_single_file(pipe, path):
    tensors = unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config)
    tensors.update(vae_to_ldm(pipe.vae.state_dict()))
    if hasattr(pipe, "text_encoder_2"):
        tensors.update(clip_to_ldm(pipe.text_encoder.state_dict(), "conditioner.embedders.0.transformer."))
        tensors.update(open_clip_to_ldm(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model."))
    else:
        tensors.update(clip_to_ldm(pipe.text_encoder.state_dict(), "cond_stage_model.transformer."))
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)
    # diffusers' own conversion must give back every tensor exactly.
    cls = type(pipe)
    back = cls.from_single_file(path, config=os.path.dirname(path) + "/" + os.path.basename(path).split(".")[0],
                                local_files_only=True)
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if not hasattr(pipe, name):
            continue
        a, b = getattr(pipe, name).state_dict(), getattr(back, name).state_dict()
        a = {k: v for k, v in a.items() if not k.endswith("position_ids")}
        b = {k: v for k, v in b.items() if not k.endswith("position_ids")}
        assert a.keys() == b.keys(), (name, sorted(set(a) ^ set(b))[:5])
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    print(f"single file: {os.path.basename(path)}, {len(tensors)} tensors, read back by diffusers identically")
    to_ckpt_files(pipe, tensors, path[: -len(".safetensors")])
    # fp8 single files as the community ships them (float8_e4m3fn), and the same values in float32.
    fp8 = {k: v.to(torch.float8_e4m3fn) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file({k: v.contiguous() for k, v in fp8.items()}, path.replace(".safetensors", "_fp8.safetensors"))
    save_file({k: (v.float() if v.dtype == torch.float8_e4m3fn else v).contiguous() for k, v in fp8.items()},
              path.replace(".safetensors", "_fp8_upcast.safetensors"))


class FakeModelCheckpoint:
    """Stands for the Lightning callback pickled into SD's original training checkpoints."""

    def __init__(self):
        self.monitor, self.best_model_score, self.dirpath = None, torch.tensor(0.25), "/logs/checkpoints"


def to_ckpt_files(pipe, tensors, stem):
    """The same tensors as torch.save (.ckpt) files, in the two forms Stable Diffusion's .ckpt files
    come in: {"state_dict": ..., "global_step": ...} (what diffusers' from_single_file reads with
    torch.load(weights_only=True)), and a full training checkpoint: every tensor a view into one
    shared storage (some transposed), an EMA copy under model_ema. (the UNet's values halved; the
    same file with those as its main weights is <stem>_ema_as_main.safetensors), optimizer state,
    and a Lightning callback object, which weights_only loading refuses."""
    import types
    torch.save({"state_dict": tensors, "global_step": 470000, "epoch": 6}, stem + ".ckpt")
    back = type(pipe).from_single_file(stem + ".ckpt", config=stem, local_files_only=True)
    assert torch.equal(back.unet.conv_in.weight, pipe.unet.conv_in.weight)

    module = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")
    FakeModelCheckpoint.__module__ = module.__name__
    FakeModelCheckpoint.__qualname__ = FakeModelCheckpoint.__name__ = "ModelCheckpoint"
    module.ModelCheckpoint = FakeModelCheckpoint
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks", module.__name__):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[module.__name__] = module
    names = sorted(tensors)
    flat = torch.cat([tensors[k].flatten().float() for k in names])
    views, at = {}, 0
    for k in names:
        t = tensors[k]
        n = t.numel()
        if t.dim() == 2 and t.shape[0] != t.shape[1]:  # stored transposed: strides (1, rows)
            flat[at:at + n] = t.t().flatten()
            views[k] = flat[at:at + n].view(t.shape[1], t.shape[0]).t()
        else:
            views[k] = flat[at:at + n].view(t.shape)
        at += n
    assert all(torch.equal(views[k], tensors[k]) for k in names)
    # The EMA copy of the UNet under the LDM EMA module's flattened names (other values: half).
    unet_keys = [k for k in names if k.startswith("model.diffusion_model.")]
    ema = {"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(470000)}
    ema.update({"model_ema." + "".join(k.split(".")[1:]): tensors[k] * 0.5 for k in unet_keys})
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint
    by_diffusers = convert_ldm_unet_checkpoint({**tensors, **ema}, dict(pipe.unet.config), extract_ema=True)
    assert torch.equal(by_diffusers["conv_in.weight"], tensors["model.diffusion_model.input_blocks.0.0.weight"] * 0.5)
    save_file({k: (tensors[k] * 0.5 if k in unet_keys else tensors[k]).contiguous() for k in names},
              stem + "_ema_as_main.safetensors")
    full = {"epoch": 6, "global_step": 470000, "pytorch-lightning_version": "1.4.2",
            "state_dict": {**views, **ema},
            "callbacks": {FakeModelCheckpoint: {"best_model_score": torch.tensor(0.25)}},
            "checkpoint_callback": FakeModelCheckpoint(),
            "optimizer_states": [{"state": {0: {"exp_avg": torch.randn(8)}},
                                  "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": {0, 1}}]}],
            "lr_schedulers": [], "hparams": types.SimpleNamespace(base_learning_rate=1e-4)}
    torch.save(full, stem + "_lightning.ckpt")
    try:
        torch.load(stem + "_lightning.ckpt", weights_only=True)
        raise AssertionError("weights_only loading should refuse the Lightning callback")
    except pickle.UnpicklingError:
        pass
    sd = torch.load(stem + "_lightning.ckpt", weights_only=False)["state_dict"]
    assert all(torch.equal(sd[k], tensors[k]) for k in names)
    print(f"torch.save files: {os.path.basename(stem)}.ckpt (read by diffusers' from_single_file), "
          f"{os.path.basename(stem)}_lightning.ckpt (a full training checkpoint)")


def main(out_dir):
    torch.set_num_threads(2)
    out = os.path.join(out_dir, "pipeline")
    os.makedirs(out, exist_ok=True)
    dirs = build_tokenizers(out)
    text_encoders(out, dirs)
    vae_reference(out)
    pipelines(out, dirs)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
