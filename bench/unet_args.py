"""The arguments bench/compare_diffusers.py and bench/op_shares.py share: which UNet config, the
forward's input shape (latent side, batch, text tokens) and the CPU threads."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_unet_args(ap):
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "sd15.json"))
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=77)
    ap.add_argument("--threads", type=int, default=2)
