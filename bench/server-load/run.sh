#!/usr/bin/env bash
# Starts `quantsharp serve MODEL --parallel 16` on a free loopback port, runs load.cs against it (1, 4, 8, 16 streaming
# clients × 32 requests × 32 tokens by default), prints the server's peak RSS, and stops the server.
# Usage: bench/server-load/run.sh MODEL [clients] [requests] [max_tokens] [extra serve options…]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
model="$1"; clients="${2:-1,4,8,16}"; requests="${3:-32}"; tokens="${4:-32}"; shift $(( $# < 4 ? $# : 4 ))
log="$(mktemp)"
"$root/quantsharp" serve "$model" --port 0 --parallel 16 --ctx 512 "$@" 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  url="$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$log" | head -1 || true)"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
# The CLI runs as `dotnet QuantSharp.Cli.dll`: find that process under the wrapper script.
pid="$(pgrep -f "QuantSharp.Cli.dll serve" | head -1)"
dotnet run -c Release "$here/load.cs" -- "$url" "$clients" "$requests" "$tokens"
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")"
kill -TERM "$server"; wait "$server" || true
