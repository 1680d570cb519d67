#!/usr/bin/env bash
# Regenerates the "Quantization quality (RTN)" section of docs/RESULTS.md — one command:
#
#   bench/quantize-results.sh [MAX_WINDOWS]      (default 32 windows of 256 tokens per text; 0 = whole files)
#
# For brown-llama and stories260K and each storage (fp32 as stored; bf16 and every quantization scheme written with
# `quantsharp quantize` and loaded back from the written folder) it measures: bits per weight of the converted linears
# including scales, model.safetensors size, peak resident memory (VmHWM) of a process that loads the folder and
# generates 128 tokens, and of one that quantizes the fp32 checkpoint at load time (--quantize) and does the same;
# perplexity on wiki.test.raw and on brown-llama's heldout.txt (ctx 256, the first MAX_WINDOWS windows); greedy decode
# tokens/s; and the GB/s of weights streamed per decoded token next to the machine's measured bandwidth.
# Needs: bash, jq, the .NET SDK. Writes the section between the markers in docs/RESULTS.md (creates the file if absent).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
windows="${1:-32}"
shared="$(cd "$here/.." && pwd)/shared"
[ -d "$shared/models" ] || shared="$here/../shared"
wiki="$shared/data/wikitext-2-raw/wiki.test.raw"
heldout="$shared/models/brown-llama/heldout.txt"
qs="$here/quantsharp"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$qs" --help >/dev/null # build once, outside the timings

schemes=(fp32 bf16 int8 int4-g128-asym int4-g128-sym int4-g32-asym int4-g32-sym nf4 nf4-dq fp4 ternary-row)
declare -A model_path=([brown-llama]="$shared/models/brown-llama" [stories260K]="$shared/models/stories260K/hf")
last() { tail -n 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

bw1="$("$qs" bandwidth --threads 1 --json | last)"
bwn="$("$qs" bandwidth --json | last)"
read_gbs="$(jq -n --argjson a "$bw1" --argjson b "$bwn" '[$a.read_gb_per_second, $b.read_gb_per_second] | max')"
copy_gbs="$(jq -n --argjson a "$bw1" --argjson b "$bwn" '[$a.copy_gb_per_second, $b.copy_gb_per_second] | max')"
threads="$(echo "$bwn" | jq .threads)"

declare -A ppl
table="$work/table.md"
: > "$table"
start=$SECONDS
for model in brown-llama stories260K; do
  src="${model_path[$model]}"
  echo "| **$model** | | | | | | | | | |" >> "$table"
  for s in "${schemes[@]}"; do
    echo "== $model $s" >&2
    folder="$src"; bits=32; quant=()
    if [ "$s" != fp32 ]; then
      folder="$work/$model-$s"
      q="$("$qs" quantize "$src" "$folder" --scheme "$s" --json 2>/dev/null | last)"
      bits="$(echo "$q" | jq '.quantized_bits_per_weight * 1000 | round / 1000')"
      quant=(--quantize "$s")
    fi
    size="$(stat -c %s "$folder/model.safetensors")"
    # Decode speed: best of 3 runs (the machine is shared, so the best run is the least disturbed one).
    tps=0
    for _ in 1 2 3; do
      gen="$("$qs" generate "$folder" --ids 1 -n 128 --json 2>/dev/null | last)"
      tps="$(jq -n --argjson a "$tps" --argjson b "$(echo "$gen" | jq .tokens_per_second)" '[$a, $b] | max')"
    done
    streamed="$(echo "$gen" | jq .streamed_bytes_per_token)"
    peak_saved="$(echo "$gen" | jq .peak_memory_bytes)"
    if [ "$s" = fp32 ]; then
      peak_load="$peak_saved"
    else
      peak_load="$("$qs" generate "$src" "${quant[@]}" --ids 1 -n 128 --json 2>/dev/null | last | jq .peak_memory_bytes)"
    fi
    ppl_wiki="$("$qs" perplexity "$folder" -f "$wiki" --ctx 256 --max-windows "$windows" --json 2>/dev/null | last | jq '.ppl * 100 | round / 100')"
    ppl_held="$("$qs" perplexity "$folder" -f "$heldout" --ctx 256 --max-windows "$windows" --json 2>/dev/null | last | jq '.ppl * 100 | round / 100')"
    ppl["$model/$s/wiki"]="$ppl_wiki"; ppl["$model/$s/heldout"]="$ppl_held"
    gbs="$(awk -v b="$streamed" -v t="$tps" 'BEGIN { printf "%.2f", b * t / 1e9 }')"
    echo "| $s | $bits | $(mib "$size") | $(mib "$peak_saved") | $(mib "$peak_load") | $ppl_wiki | $ppl_held | $tps | $(mib "$streamed") | $gbs |" >> "$table"
  done
done
elapsed=$((SECONDS - start))

section="$work/section.md"
{
  echo "<!-- quantize-results:begin -->"
  echo "## Quantization quality (RTN)"
  echo
  echo "Made by \`bench/quantize-results.sh $windows\` on $(date -u +%Y-%m-%d), $(nproc) cores shared with other engineers' builds and tests"
  echo "(timings are noisy; compare rows of one run). Every non-fp32 row is a folder written by \`quantsharp quantize\` and"
  echo "loaded back. Selection: every linear weight inside the transformer blocks; embeddings, norms and LM head stay F32."
  echo
  echo "* **bits/w**: bits per quantized weight including scales/zeros/absmax (packing padding included); fp32 32, bf16 16."
  echo "* **file**: model.safetensors. **peak (saved)**: peak resident memory (VmHWM, includes the .NET runtime, ~45 MiB)"
  echo "  of a process that loads the folder and generates 128 tokens; **peak (load-time)**: same, but quantizing the fp32"
  echo "  checkpoint while loading (\`--quantize\`; source pages are dropped after each tensor)."
  echo "* **ppl**: perplexity, ctx 256, the first $windows windows ($((windows * 255)) scored tokens) of each text"
  echo "  (\`--max-windows $windows\`, to keep the run short); wiki = wikitext-2 wiki.test.raw, heldout = brown-llama/heldout.txt."
  echo "  stories260K was trained on TinyStories, so both texts are out of domain for it."
  echo "* **tok/s**: greedy decode of 128 tokens after a BOS, best of 3 runs; **streamed**: weight bytes one decoded token reads (block"
  echo "  linears + LM head + norms); **GB/s** = streamed × tok/s. Machine bandwidth measured by \`quantsharp bandwidth\`:"
  echo "  read $read_gbs GB/s, copy $copy_gbs GB/s (read + written; best of 1 and $threads threads)."
  echo
  echo "| storage | bits/w | file MiB | peak (saved) MiB | peak (load-time) MiB | ppl wiki | ppl heldout | tok/s | streamed MiB | GB/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  cat "$table"
  echo
  echo "Perplexity relative to fp32 (wiki / heldout):"
  for model in brown-llama stories260K; do
    line="* $model:"
    for s in int8 int4-g128-asym int4-g128-sym nf4 ternary-row; do
      line="$line $s $(awk -v a="${ppl[$model/$s/wiki]}" -v b="${ppl[$model/fp32/wiki]}" -v c="${ppl[$model/$s/heldout]}" -v d="${ppl[$model/fp32/heldout]}" \
        'BEGIN { printf "%+.2f%% / %+.2f%%", (a / b - 1) * 100, (c / d - 1) * 100 }');"
    done
    echo "${line%;}."
  done
  echo
  echo "Total run time: ${elapsed} s."
  echo "<!-- quantize-results:end -->"
} > "$section"

results="$here/docs/RESULTS.md"
if [ ! -f "$results" ]; then
  printf '# QuantSharp results\n\n' > "$results"
fi
if grep -q '<!-- quantize-results:begin -->' "$results"; then
  awk -v f="$section" '
    /<!-- quantize-results:begin -->/ { while ((getline line < f) > 0) print line; skip = 1; next }
    /<!-- quantize-results:end -->/ { skip = 0; next }
    !skip { print }' "$results" > "$work/results.md"
  cp "$work/results.md" "$results"
else
  { echo; cat "$section"; } >> "$results"
fi
cat "$section"
