#!/usr/bin/env bash
# The whole chain on a full-size SD 1.5 model on this CPU, small: 256x256, 2 prompts, K = 1, a few
# steps (scripts/sd-chain.sh with its defaults; under 20 minutes on 2 cores). Not part of CI:
#   scripts/sd-chain-smoke.sh            # writes runs/sd-chain-smoke/, prints the stage timings
set -euo pipefail
cd "$(dirname "$0")/.."
W=${W:-runs/sd-chain-smoke} exec scripts/sd-chain.sh
