#!/usr/bin/env python3
"""torch.save files as torch writes them, for asdm's torch.save reader (model/torch_save.h): every
pickle protocol torch.save takes, the legacy format, every dtype asdm holds, views (offsets,
transposes, stride 0 from expand, 0-d, empty), parameters, a tensor subclass, an OrderedDict with
_metadata, fp8 and unsigned dtypes (an untyped storage and _rebuild_tensor_v3). Each case is OUT_DIR/torch_save/<case>.pt; expected.safetensors holds every tensor under
"<case>/<name>".

usage: make_torch_save_cases.py OUT_DIR
"""
import collections
import os
import sys

import torch
from safetensors.torch import save_file


class Tagged(torch.Tensor):
    """A tensor subclass: pickled through torch._tensor._rebuild_from_type_v2."""


def tensors():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(4, 6, generator=g)
    out = {
        "f32": base.clone(),
        "view_offset": base[1:3, 2:5],
        "transposed": base.t(),
        "expanded": torch.randn(3, 1, generator=g).expand(3, 4),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "f16": base.half(),
        "bf16": base.bfloat16()[::2],
        "f64": base.double(),
        "i64": torch.arange(-5, 5),
        "i32": torch.arange(7, dtype=torch.int32),
        "i16": torch.arange(3, dtype=torch.int16),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
    }
    return out


def main(out_dir):
    out = os.path.join(out_dir, "torch_save")
    os.makedirs(out, exist_ok=True)
    plain = tensors()
    expected = {}

    def case(name, obj, state, **kw):
        torch.save(obj, os.path.join(out, name + ".pt"), **kw)
        back = torch.load(os.path.join(out, name + ".pt"), weights_only=False)
        back = back.get("state_dict", back) if isinstance(back, dict) else back
        for k, v in state.items():
            a, b = back[k].as_subclass(torch.Tensor), v.as_subclass(torch.Tensor)
            assert a.dtype == b.dtype and torch.equal(a.view(torch.uint8), b.view(torch.uint8)) \
                if a.dtype.itemsize == 1 else torch.equal(a, b), (name, k)
            expected[f"{name}/{k}"] = v.as_subclass(torch.Tensor).contiguous().clone()

    for protocol in (2, 3, 4, 5):
        case(f"protocol{protocol}", plain, plain, pickle_protocol=protocol)
    case("legacy", plain, plain, _use_new_zipfile_serialization=False)
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    sd = module.state_dict()  # an OrderedDict with _metadata; BatchNorm's num_batches_tracked
    case("module", sd, dict(sd))
    params = collections.OrderedDict(w=torch.nn.Parameter(torch.ones(2, 2)),
                                     t=torch.arange(4.0).as_subclass(Tagged))
    case("parameter_subclass", params, params)
    case("wrapped", {"state_dict": plain, "global_step": 7, "hparams": {"lr": 1e-4, "betas": (0.9, 0.99)},
                     "groups": {1, 2}, "name": b"bytes", "device": torch.device("cpu"),
                     "complex": torch.zeros(2, dtype=torch.complex64)}, plain)
    # Dtypes without a typed storage class: an untyped storage and _rebuild_tensor_v3.
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 5, generator=g)
    newer = {"f8_e4m3fn": x.to(torch.float8_e4m3fn), "f8_e5m2": x.to(torch.float8_e5m2)[:, 1:],
             "u16": torch.arange(6).to(torch.uint16), "u32": torch.arange(4).to(torch.uint32),
             "u64": torch.arange(3).to(torch.uint64)}
    case("untyped_storage", newer, newer)
    save_file(expected, os.path.join(out, "expected.safetensors"))
    print(f"torch_save: {len(expected)} tensors in {len(set(k.split('/')[0] for k in expected))} cases")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
