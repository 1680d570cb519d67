#!/usr/bin/env bash
# Side by side, alternating: the plain AVX-512 read loop in C (readloop.c) and `quantsharp bandwidth`, 2 GiB buffers,
# at 1..$(nproc) threads, ROUNDS rounds (default 3). Needs gcc; prints one JSON line per measurement.
# Usage: bash bench/bandwidth/compare.sh [ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds="${1:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gcc -O2 -mavx512f -pthread "$here/readloop.c" -o "$work/readloop"
dotnet build "$root/src/QuantSharp.Cli" -c Release -v q -nologo >/dev/null
cli="$root/src/QuantSharp.Cli/bin/Release/net10.0/QuantSharp.Cli.dll"
for round in $(seq "$rounds"); do
  for t in $(seq "$(nproc)"); do
    echo "{\"round\":$round,\"tool\":\"readloop.c\",\"result\":$("$work/readloop" "$t")}"
    echo "{\"round\":$round,\"tool\":\"quantsharp\",\"result\":$(dotnet "$cli" bandwidth --threads "$t" --mib 2048 --json)}"
  done
done
