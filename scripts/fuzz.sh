#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS: the safetensors
# parser, CLIP's tokenizer (UTF-8 decoding, NFC, the pre-tokenizer, BPE), the .npz/.npy reader
# (zip directory, ZIP64, deflate; FID statistics files from other tools) and the torch.save reader
# (its pickle machine, both formats; weights files such as pytorch-fid's Inception, training
# checkpoints with objects of other classes) on
# arbitrary bytes. The last links libtorch: it is built when $ASDM_PYTHON (default .venv/bin/python)
# imports torch, and skipped with a line otherwise.
#   scripts/fuzz.sh [SECONDS=60] [BUILD_DIR=build-fuzz]
# Seeds: the shared fixtures' safetensors files and a few small files written here; prompts with
# accents, Hangul and special tokens for the tokenizer. Exits non-zero on any crash, leak or
# sanitizer report (the reproducer is left in BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=${2:-build-fuzz}
mkdir -p "$out/corpus"
command -v clang++ >/dev/null || { echo "clang++ not found (apt-get install clang libclang-rt-dev)" >&2; exit 1; }
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. \
  fuzz/safetensors_fuzz.cpp model/safetensors.cpp core/mapped_file.cpp core/error.cpp core/artifact.cpp \
  fuzz/version_stub.cpp -lfmt -o "$out/safetensors_fuzz"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. \
  fuzz/clip_tokenizer_fuzz.cpp sd/clip_tokenizer.cpp sd/unicode.cpp core/error.cpp core/artifact.cpp core/json_int.cpp fuzz/version_stub.cpp -lfmt \
  -o "$out/clip_tokenizer_fuzz"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. \
  fuzz/npz_fuzz.cpp eval/npz.cpp core/zip.cpp core/error.cpp core/artifact.cpp fuzz/version_stub.cpp -lfmt -lz -o "$out/npz_fuzz"
py=${ASDM_PYTHON:-.venv/bin/python}
torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2> /dev/null ||
  true)
if [[ -n $torch_dir ]]; then
  # FMT_HEADER_ONLY: libtorch's own fmt headers, as the CMake build uses them.
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fno-sanitize=vptr -DFMT_HEADER_ONLY=1 -I. -isystem "$torch_dir/include" \
    -isystem "$torch_dir/include/torch/csrc/api/include" \
    fuzz/state_dict_fuzz.cpp eval/state_dict.cpp model/torch_save.cpp model/torch_save_index.cpp \
    model/weights_file.cpp model/tensor_io.cpp model/safetensors.cpp core/zip.cpp \
    core/mapped_file.cpp core/error.cpp core/artifact.cpp fuzz/version_stub.cpp \
    -L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib" -ltorch -ltorch_cpu -lc10 -lz -o "$out/state_dict_fuzz"
  mkdir -p "$out/corpus-pt"
  "$py" - "$out/corpus-pt" <<'PY'
# torch.save as pytorch-fid's and training checkpoints are written: zip and legacy formats, an
# OrderedDict with _metadata, views with offsets and strides, a {"state_dict": ...} wrapper.
import collections, os, sys, torch
d = sys.argv[1]
lin = torch.nn.Linear(2, 2)
torch.save(lin.state_dict(), os.path.join(d, "module.pt"))
torch.save(lin.state_dict(), os.path.join(d, "module_legacy.pt"), _use_new_zipfile_serialization=False)
base = torch.arange(6, dtype=torch.float16)
sd = {"view": base[2:5], "bf": torch.ones(2, dtype=torch.bfloat16), "i": torch.tensor([1, 2]),
      "b": torch.tensor([True]), "step": 3, "t": torch.arange(4.).reshape(2, 2).t()}
torch.save({"state_dict": sd, "epoch": 1}, os.path.join(d, "wrapped.pt"))
torch.save(sd, os.path.join(d, "mixed_legacy.pt"), _use_new_zipfile_serialization=False)
torch.save(collections.OrderedDict(w=torch.nn.Parameter(torch.zeros(1))), os.path.join(d, "param.pt"))
# A training checkpoint's other objects: a class as a dict key, an instance, a set.
class Callback:
    pass
cb = Callback()
cb.groups = {1, 2}
torch.save({"state_dict": sd, "callbacks": {Callback: {"score": torch.tensor(0.5)}}, "cb": cb},
           os.path.join(d, "lightning.pt"))
PY
else
  echo "state_dict_fuzz skipped: $py does not import torch"
fi
mkdir -p "$out/corpus-tokenizer"
printf 'a photo of the red cat' > "$out/corpus-tokenizer/plain"
printf 'Tie\xcc\x82\xcc\x81ng Vi\xe1\xbb\x87t \xe1\x84\x80\xe1\x85\xa1 \xc4\xb0' > "$out/corpus-tokenizer/unicode"
printf "it's <|endoftext|> 12,5!!" > "$out/corpus-tokenizer/specials"
# Seed corpus: headers of real files (truncated to keep seeds small) and hand-made cases.
shared=${ASDM_SHARED_DIR:-../shared}
for f in "$shared"/fixtures/diffusers/*/*.safetensors; do
  [[ -f $f ]] && head -c 4096 "$f" > "$out/corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
done
python3 - "$out/corpus" <<'PY'
import json, struct, sys, os
d = sys.argv[1]
def w(name, header, data=b""):
    h = json.dumps(header).encode()
    open(os.path.join(d, name), "wb").write(struct.pack("<Q", len(h)) + h + data)
w("one", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)
w("meta", {"__metadata__": {"format": "pt"}, "b": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [0, 4]}}, b"\0" * 4)
w("two", {"a": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}, "b": {"dtype": "U8", "shape": [0], "data_offsets": [8, 8]}}, b"\0" * 8)
PY
mkdir -p "$out/corpus-npz"
python3 - "$out/corpus-npz" <<'PY'
# numpy's layouts without numpy: .npy v1/v2 images, and zips of them stored and deflated with the
# ZIP64 extra fields np.savez writes (force_zip64).
import os, struct, sys, zipfile
d = sys.argv[1]
def npy(descr, shape, data, fortran=False, major=1):
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, fortran, "(%s)" % "".join("%d, " % s for s in shape).rstrip(" ") if shape else "()")
    h = h.replace(", )", ",)") if len(shape) == 1 else h.replace(", )", ")")
    h = h.encode() + b"\n"
    return b"\x93NUMPY" + bytes([major, 0]) + (struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))) + h + data
arrays = {"mu": npy("<f8", [3], struct.pack("<3d", 1.5, -2, 0)),
          "sigma": npy("<f4", [2, 2], struct.pack("<4f", 1, 0, 0, 1), fortran=True),
          "n": npy("<i8", [], struct.pack("<q", 42)), "k": npy("<i4", [2, 1], struct.pack("<2i", 7, 8), major=2)}
for name, b in arrays.items():
    open(os.path.join(d, name + ".npy"), "wb").write(b)
for tag, method in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(os.path.join(d, tag + ".npz"), "w", method) as z:
        for name, b in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                f.write(b)
PY
cd "$out"
./safetensors_fuzz -max_total_time="$seconds" -max_len=8192 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 corpus
./clip_tokenizer_fuzz -max_total_time="$seconds" -max_len=512 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
  corpus-tokenizer
./npz_fuzz -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 corpus-npz
if [[ -x state_dict_fuzz && -n $torch_dir ]]; then
  ./state_dict_fuzz -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 corpus-pt
fi
