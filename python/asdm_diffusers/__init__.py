"""asdm students in diffusers.

``load_student(path)`` returns a ``UNet2DConditionModel`` (an ``AsdmUNet2DConditionModel``) that
computes what asdm computes for any student folder written by ``asdm build`` or ``asdm incubate``:
removed units are their shortcuts, CLME-CondConv ResBlocks mix their experts per sample, and GRI
self-attention attends to a window and to pooled keys. It drops into any diffusers pipeline
(``pipe.unet = load_student(path)``), trains like any torch module, and ``save_pretrained`` writes a
folder that both ``load_student`` and asdm read back.
"""

from .modules import (
    ClmeConv2d,
    GriAttnProcessor,
    RemovedResnet,
    RemovedTransformer2D,
    RemovedTransformerBlock,
    clme_coefficients,
    gri_attention,
)
from .student import AsdmUNet2DConditionModel, StudentEdits, load_student, read_edits

__all__ = [
    "AsdmUNet2DConditionModel",
    "ClmeConv2d",
    "GriAttnProcessor",
    "RemovedResnet",
    "RemovedTransformer2D",
    "RemovedTransformerBlock",
    "StudentEdits",
    "clme_coefficients",
    "gri_attention",
    "load_student",
    "read_edits",
]
__version__ = "0.1.0"
