"""Loading and saving asdm students as diffusers UNets.

An asdm student folder holds ``config.json`` (the structural student: a stock diffusers config,
with dropped layers, stages or mid block already applied), the weights
(``diffusion_pytorch_model.safetensors``) and, when the student has edits that no stock config can
say, ``asdm_arch.json``: the teacher's config and the edit list (DESIGN.md §4). Structural edits
(``drop_layer``, ``drop_mid``, ``drop_stage``) are already in ``config.json``; this module applies
the others — ``remove``, ``clme`` and ``gri`` — to the diffusers model, by unit id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file
from torch import nn

from .modules import (
    RemovedResnet,
    RemovedTransformer2D,
    RemovedTransformerBlock,
    attach_clme,
    attach_gri,
)

ARCH_FILE = "asdm_arch.json"
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
STRUCTURAL_OPS = {"drop_layer", "drop_mid", "drop_stage"}


@dataclass
class StudentEdits:
    """The edits of an asdm student that the diffusers config cannot hold."""

    removed: List[str] = field(default_factory=list)  # unit ids, forward order of the edit list
    gri: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # unit -> (window, pool)
    clme: Dict[str, List[str]] = field(default_factory=dict)  # unit -> experts (removed siblings)
    arch: Optional[dict] = None  # asdm_arch.json as read, written back by save_pretrained

    @property
    def empty(self) -> bool:
        return not (self.removed or self.gri or self.clme)


def read_edits(folder: Union[str, os.PathLike]) -> StudentEdits:
    """The student's edits from ``<folder>/asdm_arch.json``; none when the file is absent."""
    path = Path(folder) / ARCH_FILE
    if not path.exists():
        return StudentEdits()
    arch = json.loads(path.read_text())
    if not isinstance(arch, dict) or "edits" not in arch or "teacher_config" not in arch:
        raise ValueError(f"{path} is not an asdm ArchSpec (no 'teacher_config' and 'edits')")
    e = StudentEdits(arch=arch)
    for edit in arch["edits"]:
        op = edit.get("op")
        if op == "remove":
            e.removed.append(edit["unit"])
        elif op == "gri":
            e.gri[edit["unit"]] = (int(edit["window"]), int(edit["pool"]))
        elif op == "clme":
            e.clme[edit["unit"]] = list(edit["experts"])
        elif op not in STRUCTURAL_OPS:
            raise ValueError(f"{path}: edit '{op}' is not one this asdm_diffusers knows")
    return e


def _replace(model: nn.Module, unit: str, new: nn.Module) -> None:
    parent_name, _, child = unit.rpartition(".")
    parent = model.get_submodule(parent_name)
    if isinstance(parent, nn.ModuleList):
        parent[int(child)] = new
    else:
        setattr(parent, child, new)


def _unit(model: nn.Module, unit: str) -> nn.Module:
    try:
        return model.get_submodule(unit)
    except AttributeError as e:
        raise ValueError(f"unit '{unit}' is not in this UNet") from e


def apply_edits(model: UNet2DConditionModel, edits: StudentEdits) -> None:
    """Removals become shortcuts, CLME units get their experts and router, GRI units their
    processor. The model's weights are not touched (load them afterwards)."""
    from diffusers.models.resnet import ResnetBlock2D

    # Channels of every unit before anything is replaced (CLME experts are removed siblings).
    channels = {
        name: (m.conv1.in_channels, m.conv2.out_channels)
        for name, m in model.named_modules()
        if isinstance(m, ResnetBlock2D)
    }
    for unit in edits.removed:
        m = _unit(model, unit)
        if isinstance(m, ResnetBlock2D):
            _replace(model, unit, RemovedResnet(m.conv_shortcut, m.output_scale_factor))
        elif ".transformer_blocks." in unit:
            _replace(model, unit, RemovedTransformerBlock())
        elif hasattr(m, "transformer_blocks"):
            _replace(model, unit, RemovedTransformer2D())
        else:
            raise ValueError(f"unit '{unit}' ({type(m).__name__}) cannot be removed")
    for unit, experts in edits.clme.items():
        m = _unit(model, unit)
        if not isinstance(m, ResnetBlock2D):
            raise ValueError(f"clme unit '{unit}' is not a ResBlock")
        cin, cout = channels[unit]
        conv1 = sum(1 for x in experts if channels[x][0] == cin)
        conv2 = sum(1 for x in experts if channels[x][1] == cout)
        attach_clme(m, conv1, conv2)
    for unit, (window, pool) in edits.gri.items():
        attach_gri(_unit(model, unit), window, pool)


class AsdmUNet2DConditionModel(UNet2DConditionModel):
    """A diffusers UNet2DConditionModel with an asdm student's edits applied.

    ``from_pretrained`` reads an asdm student folder (``load_student``); ``save_pretrained`` writes
    config.json and the weights as diffusers does, plus ``asdm_arch.json`` so that asdm and
    ``load_student`` read the folder back.
    """

    asdm_edits: StudentEdits

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):  # type: ignore[override]
        return load_student(pretrained_model_name_or_path, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, *args, **kwargs)
        # asdm reads UNet2DConditionModel configs; the edits live in asdm_arch.json.
        config_path = Path(save_directory) / "config.json"
        config = json.loads(config_path.read_text())
        config["_class_name"] = "UNet2DConditionModel"
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        arch = getattr(self, "asdm_edits", StudentEdits()).arch
        if arch is not None:
            (Path(save_directory) / ARCH_FILE).write_text(json.dumps(arch, indent=2) + "\n")


def load_student(
    path: Union[str, os.PathLike],
    subfolder: Optional[str] = None,
    torch_dtype: Optional[torch.dtype] = None,
    device: Union[str, torch.device, None] = None,
) -> AsdmUNet2DConditionModel:
    """Loads an asdm student (a UNet folder, or a pipeline folder with ``unet/``) into diffusers.

    The result is an ``AsdmUNet2DConditionModel`` in eval mode, in the weights' dtype unless
    ``torch_dtype`` is given. Raises ValueError when the folder is not an asdm or diffusers UNet,
    or when its weights do not match its edits.
    """
    folder = Path(path)
    if subfolder:
        folder = folder / subfolder
    elif not (folder / "config.json").exists() and (folder / "unet" / "config.json").exists():
        folder = folder / "unet"
    if not (folder / "config.json").exists():
        raise ValueError(f"{folder} is not a UNet folder (no config.json)")
    weights = folder / WEIGHTS_FILE
    if not weights.exists():
        raise ValueError(f"{folder} has no {WEIGHTS_FILE}")
    config = json.loads((folder / "config.json").read_text())
    config.pop("_class_name", None)
    edits = read_edits(folder)
    model = AsdmUNet2DConditionModel.from_config(config)
    apply_edits(model, edits)
    state = load_file(str(weights))
    dtype = torch_dtype or next(iter(state.values())).dtype
    if dtype != torch.float32:
        nn.Module.to(model, dtype)  # every tensor; the weights below are copied in this dtype
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise ValueError(
            f"{weights} does not match the student's architecture "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors; first: {first})"
        )
    model.asdm_edits = edits
    if device is not None:
        model = model.to(device)
    return model.eval()
