#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS: the safetensors
# parser, then CLIP's tokenizer (UTF-8 decoding, NFC, the pre-tokenizer, BPE) on arbitrary bytes.
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
  fuzz/safetensors_fuzz.cpp model/safetensors.cpp core/error.cpp -lfmt -o "$out/safetensors_fuzz"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. \
  fuzz/clip_tokenizer_fuzz.cpp sd/clip_tokenizer.cpp sd/unicode.cpp core/error.cpp core/artifact.cpp -lfmt \
  -o "$out/clip_tokenizer_fuzz"
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
cd "$out"
./safetensors_fuzz -max_total_time="$seconds" -max_len=8192 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 corpus
./clip_tokenizer_fuzz -max_total_time="$seconds" -max_len=512 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
  corpus-tokenizer
