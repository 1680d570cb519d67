#!/usr/bin/env bash
# Issue 4 — calibrated quantization report on brown-llama (docs/RESULTS.md, "Calibrated quantization").
# RTN vs GPTQ vs AWQ (int4 g128, int3 g128), RTN vs GPTQ (int2 g64), plain vs GPTQ ternary, mixed precision at 3.5
# bits; calibration from wikitext-2 valid.txt and from the model itself; perplexity on wiki.test.raw and heldout.txt
# at ctx 256, capped at 100 windows per text (25 500 scored tokens each) to keep the run short on a shared machine.
# Prints the Markdown table on stdout, progress and the mixed-precision plans on stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED:-$here/../shared}"
exec "$here/quantsharp" calib-report "$shared/models/brown-llama" \
  --eval "$shared/data/wikitext-2-raw/wiki.test.raw" "$shared/models/brown-llama/heldout.txt" \
  --ctx 256 --max-windows "${MAX_WINDOWS:-100}" \
  --calib-file "$shared/data/wikitext-2-tokens/valid.txt" --calib-samples 128 --calib-len 256 \
  --plan-samples 4 --avg-bits 3.5 "$@"
