#!/usr/bin/env python3
"""Reference numbers from the metric packages themselves for asdm's eval/ (issue 19): pytorch-fid,
clean-fid, torch-fidelity, torchmetrics (transformers CLIP) and open_clip, all on weights of the
real architectures with seeded random values and on small generated images. Nothing is downloaded:
the packages' weight loaders are handed the random files.

OUT_DIR/eval/
  images/a/*.png, images/b/*.png  two folders of 72 smooth random RGB images (64x48 and 80x80)
  images/is/*.png                 the first 20 of a/ (torch-fidelity's IS on a folder)
  captions.txt                    one caption per image of a/ (first 8 used for CLIP)
  inception.pth, inception_legacy.pth, inception.safetensors   the FID Inception-v3 state dict
                                  (torch.save zip and pre-1.6 formats, and safetensors)
  clip/                           a tiny transformers CLIPModel folder (real CLIP BPE from open_clip)
  clip_sharded/                   the same model saved by transformers in shards (max_shard_size)
  clip_bin/                       the same model as a pytorch_model.bin (torch.save), as transformers 4 saved it
  open_clip/                      a tiny OpenCLIP ViT folder (open_clip_config.json + safetensors + BPE)
  pytorch_fid_a64.npz             pytorch-fid's own statistics of a/ at dims 64 (save_fid_stats)
  features.safetensors            per-image features/embeddings from each package
  reference.json                  metric values and each package's version

usage: make_eval_reference.py OUT_DIR
"""
import gzip
import importlib.metadata as md
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

N_IMAGES = 72
IS_IMAGES = 20
CLIP_PAIRS = 8
FEATURE_IMAGES = 6


def smooth_images(rng, n, w, h, low_size, noise):
    out = []
    for _ in range(n):
        low = rng.integers(0, 256, size=low_size + (3,)).astype(np.uint8)
        img = Image.fromarray(low).resize((w, h), Image.BICUBIC)
        arr = np.asarray(img).astype(np.int16) + rng.integers(-noise, noise + 1, size=(h, w, 3))
        out.append(np.clip(arr, 0, 255).astype(np.uint8))
    return out


def fid_inception(seed):
    """pytorch-fid's fid_inception_v3() structure with random weights and batch-norm statistics."""
    import torchvision
    from pytorch_fid import inception as pi
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    net.Mixed_5b = pi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pi.FIDInceptionE_1(1280)
    net.Mixed_7c = pi.FIDInceptionE_2(2048)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif name == "fc.weight":  # peaked class posteriors, so the Inception Score is not ~1
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif name.endswith("bn.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(1 + 0.1 * torch.randn(b.shape, generator=gen).abs())
    return net.eval()


def clip_vocab_files(dst):
    """CLIP's real BPE (open_clip bundles it) as transformers' vocab.json + merges.txt."""
    from open_clip.tokenizer import SimpleTokenizer, default_bpe
    tok = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(k, k): v for k, v in tok.encoder.items()}
    with open(os.path.join(dst, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    with open(os.path.join(dst, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def main():
    out = os.path.join(sys.argv[1], "eval")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = np.random.default_rng(19)
    ref = {"versions": {p: md.version(p) for p in
                        ["torch", "torchvision", "pytorch-fid", "clean-fid", "torch-fidelity", "torchmetrics",
                         "transformers", "open_clip_torch", "numpy", "scipy", "pillow"]}}
    print("reference package versions:", json.dumps(ref["versions"]))
    feats = {}

    dirs = {}
    # Two distributions: a/ smooth and quiet, b/ busier and noisier, so that the metrics see a gap.
    for name, (w, h, low, noise) in {"a": (64, 48, (4, 5), 12), "b": (80, 80, (9, 9), 60)}.items():
        d = os.path.join(out, "images", name)
        os.makedirs(d)
        for i, arr in enumerate(smooth_images(rng, N_IMAGES, w, h, low, noise)):
            Image.fromarray(arr).save(os.path.join(d, f"{i:04d}.png"))
        dirs[name] = d
    words = ["red", "blue", "cat", "dog", "car", "tree", "house", "photo", "of", "a", "on", "the", "beach"]
    captions = [" ".join(rng.choice(words, size=int(rng.integers(3, 9)))) for _ in range(N_IMAGES)]
    captions[1] = " ".join(["a very long caption"] * 30)  # over 77 tokens: the truncation rules
    with open(os.path.join(out, "captions.txt"), "w") as f:
        f.write("\n".join(captions) + "\n")

    # ---- the FID Inception and pytorch-fid
    net = fid_inception(7)
    state = net.state_dict()
    torch.save(state, os.path.join(out, "inception.pth"))
    # pytorch-fid's published pt_inception-2015-12-05 file predates torch 1.6: the legacy format
    torch.save(state, os.path.join(out, "inception_legacy.pth"), _use_new_zipfile_serialization=False)
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(out, "inception.safetensors"))
    import pytorch_fid.inception as pi
    from pytorch_fid import fid_score
    pi.load_state_dict_from_url = lambda *a, **k: torch.load(os.path.join(out, "inception.pth"))
    files_a = sorted(os.path.join(dirs["a"], f) for f in os.listdir(dirs["a"]))
    files_b = sorted(os.path.join(dirs["b"], f) for f in os.listdir(dirs["b"]))
    model2048 = pi.InceptionV3([3]).eval()
    feats["pytorch_fid.a.2048"] = torch.from_numpy(
        fid_score.get_activations(files_a[:FEATURE_IMAGES], model2048, batch_size=3, dims=2048, device="cpu",
                                  num_workers=0)).float()
    # FID needs more images than feature dimensions: 72 images, the 64-d layer.
    ref["pytorch_fid.fid64"] = float(fid_score.calculate_fid_given_paths(
        [dirs["a"], dirs["b"]], batch_size=24, device="cpu", dims=64, num_workers=0))
    fid_score.save_fid_stats([dirs["a"], os.path.join(out, "pytorch_fid_a64.npz")], batch_size=24, device="cpu",
                             dims=64, num_workers=0)

    # ---- clean-fid: its "clean" resize and FID code, with the same network as its feature model
    from cleanfid import fid as cfid
    from cleanfid.resize import build_resizer
    blocks = pi.InceptionV3([0], resize_input=False, normalize_input=False).eval()
    full = pi.InceptionV3([3], resize_input=False, normalize_input=False).eval()

    def clean_model64(x):
        with torch.no_grad():
            return blocks((x - 128) / 128)[0].mean((2, 3))

    ref["clean_fid.fid64"] = float(cfid.compare_folders(dirs["a"], dirs["b"], clean_model64, mode="clean",
                                                          num_workers=0, batch_size=24, device=torch.device("cpu"),
                                                          verbose=False))
    resize = build_resizer("clean")
    batch = np.stack([resize(np.asarray(Image.open(f).convert("RGB"))) for f in files_b[:FEATURE_IMAGES]])
    with torch.no_grad():
        x = torch.tensor(batch.transpose((0, 3, 1, 2)))
        feats["clean_fid.b.2048"] = full((x - 128) / 128)[0].flatten(1).float()
        feats["clean_fid.b.input"] = ((x - 128) / 128).float()

    # ---- torch-fidelity: FID at its 64-d layer on a/ and b/, IS on the first IS_IMAGES of a/ (the
    # whole network per image: kept small)
    import torch_fidelity
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    weights = os.path.join(out, "inception.pth")
    m = torch_fidelity.calculate_metrics(input1=dirs["a"], input2=dirs["b"], fid=True, feature_layer_fid="64",
                                         feature_extractor_weights_path=weights, cuda=False, batch_size=24,
                                         verbose=False, cache=False)
    ref["torch_fidelity.fid64"] = float(m["frechet_inception_distance"])
    is_dir = os.path.join(out, "images", "is")
    os.makedirs(is_dir)
    for f in files_a[:IS_IMAGES]:
        shutil.copy(f, is_dir)
    m = torch_fidelity.calculate_metrics(input1=is_dir, isc=True, feature_extractor_weights_path=weights, cuda=False,
                                         batch_size=24, verbose=False, cache=False)
    ref["torch_fidelity.isc_mean"] = float(m["inception_score_mean"])
    ref["torch_fidelity.isc_std"] = float(m["inception_score_std"])
    fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                     feature_extractor_weights_path=os.path.join(out, "inception.pth"))
    imgs = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy()).permute(2, 0, 1)
                        for f in files_a[:FEATURE_IMAGES]])
    f2048, logits = fe(imgs)
    feats["torch_fidelity.a.2048"] = f2048
    feats["torch_fidelity.a.logits"] = logits
    # IS of peaked synthetic logits through torch-fidelity's own function (random-weight Inception
    # posteriors are nearly flat, so its IS above sits near 1).
    from torch_fidelity.metric_isc import isc_features_to_metric
    synthetic = torch.randn(103, 1008, generator=torch.Generator().manual_seed(11)) * 4
    feats["synthetic.logits"] = synthetic
    s_is = isc_features_to_metric(synthetic)
    ref["torch_fidelity.synthetic_isc_mean"] = float(s_is["inception_score_mean"])
    ref["torch_fidelity.synthetic_isc_std"] = float(s_is["inception_score_std"])
    perm = np.random.RandomState(2020).permutation(N_IMAGES)
    ref["numpy_permutation_72_seed2020"] = perm.tolist()

    # ---- transformers CLIP through torchmetrics' CLIPScore
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
    clip_dir = os.path.join(out, "clip")
    os.makedirs(clip_dir)
    clip_vocab_files(clip_dir)
    cfg = CLIPConfig(text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu"),
                     vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, image_size=224, patch_size=32,
                                        hidden_act="quick_gelu"),
                     projection_dim=16)
    clip = CLIPModel(cfg).eval()
    from make_reference import perturb
    perturb(clip, torch.Generator().manual_seed(3))
    with torch.no_grad():  # random towers: point the text side so the mean cosine is positive
        px = CLIPImageProcessor()(images=[torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy()).permute(
            2, 0, 1) for f in files_a[:CLIP_PAIRS]], return_tensors="pt")["pixel_values"]
        ids = CLIPTokenizer(os.path.join(clip_dir, "vocab.json"), os.path.join(clip_dir, "merges.txt"))(
            captions[:CLIP_PAIRS], padding=True, return_tensors="pt")["input_ids"][:, :77]
        cos = torch.nn.functional.cosine_similarity(clip.get_image_features(pixel_values=px).pooler_output,
                                                    clip.get_text_features(input_ids=ids).pooler_output)
        if cos.mean() < 0:
            clip.text_projection.weight.neg_()
    clip.save_pretrained(clip_dir)
    tok = CLIPTokenizer(os.path.join(clip_dir, "vocab.json"), os.path.join(clip_dir, "merges.txt"))
    tok.save_pretrained(clip_dir)
    CLIPImageProcessor().save_pretrained(clip_dir)
    # The same model as transformers shards it (large CLIPs such as ViT-bigG come this way).
    sharded_dir = os.path.join(out, "clip_sharded")
    shutil.copytree(clip_dir, sharded_dir, ignore=shutil.ignore_patterns("model.safetensors"))
    clip.save_pretrained(sharded_dir, max_shard_size="200KB")
    assert os.path.exists(os.path.join(sharded_dir, "model.safetensors.index.json"))
    assert not os.path.exists(os.path.join(sharded_dir, "model.safetensors"))
    # The same model as older repositories hold it: transformers 4's pytorch_model.bin (a torch.save
    # state dict), which transformers 5 still reads.
    bin_dir = os.path.join(out, "clip_bin")
    shutil.copytree(clip_dir, bin_dir, ignore=shutil.ignore_patterns("model.safetensors"))
    torch.save(clip.state_dict(), os.path.join(bin_dir, "pytorch_model.bin"))
    assert torch.equal(CLIPModel.from_pretrained(bin_dir).text_projection.weight, clip.text_projection.weight)
    processor = CLIPProcessor.from_pretrained(clip_dir)
    clip_imgs = [torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy()).permute(2, 0, 1)
                 for f in files_a[:CLIP_PAIRS // 2] + files_b[:CLIP_PAIRS // 2]]
    from torchmetrics.functional.multimodal import clip_score

    class Transformers4Features(torch.nn.Module):
        """torchmetrics 1.9 expects get_*_features to return the projected tensor (transformers 4);
        transformers 5 returns an output object holding it as pooler_output. Nothing else changes."""

        def __init__(self, model):
            super().__init__()
            self.model, self.config = model, model.config

        def get_image_features(self, *a, **k):
            return self.model.get_image_features(*a, **k).pooler_output

        def get_text_features(self, *a, **k):
            return self.model.get_text_features(*a, **k).pooler_output

    ref["torchmetrics.clip_score"] = float(
        clip_score(clip_imgs, captions[:CLIP_PAIRS],
                   model_name_or_path=lambda: (Transformers4Features(clip), processor)))
    with torch.no_grad():
        px = processor(images=clip_imgs, return_tensors="pt")["pixel_values"]
        out_img = clip.get_image_features(pixel_values=px)
        e = out_img if torch.is_tensor(out_img) else out_img.pooler_output
        feats["clip.image"] = e / e.norm(dim=-1, keepdim=True)
        feats["clip.pixels"] = px
        t = processor(text=captions[:CLIP_PAIRS], return_tensors="pt", padding=True)
        ids, mask = t["input_ids"][:, :77], t["attention_mask"][:, :77]
        out_txt = clip.get_text_features(input_ids=ids, attention_mask=mask)
        e = out_txt if torch.is_tensor(out_txt) else out_txt.pooler_output
        feats["clip.text"] = e / e.norm(dim=-1, keepdim=True)
        # CMMD between a/ and b/ with this CLIP's embeddings: the reference formula
        # (google-research/cmmd distance.py: sigma 10, scale 1000, all pairs), in float64 here.
        def embed(files):
            ims = [torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy()).permute(2, 0, 1) for f in files]
            o = clip.get_image_features(pixel_values=processor(images=ims, return_tensors="pt")["pixel_values"])
            o = o if torch.is_tensor(o) else o.pooler_output
            return (o / o.norm(dim=-1, keepdim=True)).double().numpy()
        x, y = embed(files_a[:24]), embed(files_b[:24])
    gamma = 1 / (2 * 10.0 ** 2)

    def k(u, v):
        d2 = -2 * u @ v.T + (u * u).sum(1)[:, None] + (v * v).sum(1)[None, :]
        return np.exp(-gamma * d2).mean()

    ref["cmmd.a24_b24"] = float(1000 * (k(x, x) + k(y, y) - 2 * k(x, y)))

    # ---- open_clip
    import open_clip
    oc_dir = os.path.join(out, "open_clip")
    os.makedirs(oc_dir)
    clip_vocab_files(oc_dir)
    model_cfg = {"embed_dim": 16, "quick_gelu": False,
                 "vision_cfg": {"image_size": 224, "layers": 2, "width": 32, "head_width": 8, "patch_size": 32},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2}}
    torch.manual_seed(5)
    oc = open_clip.model.CLIP(**model_cfg).eval()
    perturb(oc, torch.Generator().manual_seed(5))
    preprocess = open_clip.image_transform(224, is_train=False)
    pil = [Image.open(f).convert("RGB") for f in files_a[:CLIP_PAIRS // 2] + files_b[:CLIP_PAIRS // 2]]
    with torch.no_grad():  # random towers: point the text side so the mean cosine is positive
        cos = torch.nn.functional.cosine_similarity(oc.encode_image(torch.stack([preprocess(p) for p in pil])),
                                                    oc.encode_text(open_clip.tokenize(captions[:CLIP_PAIRS])))
        if cos.mean() < 0:
            oc.text_projection.neg_()
    save_file({k: v.contiguous() for k, v in oc.state_dict().items()},
              os.path.join(oc_dir, "open_clip_model.safetensors"))
    with open(os.path.join(oc_dir, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": model_cfg, "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                                                              "std": list(open_clip.OPENAI_DATASET_STD)}}, f)
    with torch.no_grad():
        px = torch.stack([preprocess(p) for p in pil])
        ie = oc.encode_image(px)
        te = oc.encode_text(open_clip.tokenize(captions[:CLIP_PAIRS]))
        ie = ie / ie.norm(dim=-1, keepdim=True)
        te = te / te.norm(dim=-1, keepdim=True)
    feats["open_clip.pixels"] = px
    feats["open_clip.image"] = ie
    feats["open_clip.text"] = te
    ref["open_clip.clip_score"] = float(torch.clamp((100 * (ie * te).sum(-1)).mean(), min=0))

    save_file({k: v.contiguous().float() for k, v in feats.items()}, os.path.join(out, "features.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print(json.dumps({k: v for k, v in ref.items() if k != "numpy_permutation_72_seed2020"}, indent=1))


if __name__ == "__main__":
    main()
