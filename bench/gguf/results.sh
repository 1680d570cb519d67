#!/usr/bin/env bash
# docs/RESULTS.md "GGUF interop with llama.cpp": brown-llama exported by QuantSharp to each GGUF type, then for each file: size, bits
# per weight, perplexity on heldout.txt (the first W windows of 256) in QuantSharp and in llama.cpp (node-llama-cpp 3.22.1,
# same token windows), and decode tokens/s in both (same threads, one run each).
#   bench/gguf/results.sh [threads=1] [windows=16] [decode tokens=128] [types='f16 q8_0 q4_0 q4_k q6_k tq2_0 q2_0']
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1} windows=${2:-16} decode=${3:-128} types=${4:-f16 q8_0 q4_0 q4_k q6_k tq2_0 q2_0}
model=../shared/models/brown-llama text=$model/heldout.txt
out=$(mktemp -d) && trap 'rm -rf "$out"' EXIT
.ci/install-llama-cpp >&2
./quantsharp --help >/dev/null
dotnet run bench/gguf/windows.cs -- "$model" "$text" 256 "$windows" "$out/windows.json" >&2
echo "| type | bits/weight (matrices) | file bytes | PPL QuantSharp | PPL llama.cpp | decode tok/s QuantSharp | decode tok/s llama.cpp |"
echo "|---|---|---|---|---|---|---|"
for t in $types; do
  f="$out/brown-$t.gguf"
  ex=$(./quantsharp export "$model" "$f" --type "$t" --json 2>/dev/null | tail -1)
  ppl=$(./quantsharp perplexity "$f" -f "$text" --ctx 256 --max-windows "$windows" --threads "$threads" --json 2>/dev/null | tail -1)
  gen=$(./quantsharp generate "$f" --prompt "The jury said that" --max-tokens "$decode" --temperature 0 --threads "$threads" --json 2>/dev/null | tail -1)
  lc=$(node tools/llama-cpp/perplexity.mjs .tools/llama "$threads" "$out/windows.json" "$f" --decode "$decode" 2>/dev/null | tail -1)
  python3 - "$t" "$ex" "$ppl" "$gen" "$lc" <<'PY'
import json, sys
t, ex, ppl, gen, lc = sys.argv[1], *map(json.loads, sys.argv[2:])
print(f"| {t} | {ex['bits_per_weight']:.2f} | {ex['file_bytes']:,} | {ppl['ppl']:.4f} | {lc['ppl']:.4f} | {gen['tokens_per_second']:.0f} | {lc['decodeTokensPerSecond']:.0f} |")
PY
done
