#!/usr/bin/env bash
# The same load as run.sh against llama.cpp's llama-server on a GGUF file (16 slots of 512 positions, 2 threads,
# continuous batching), for a side-by-side with `quantsharp serve` on the same file.
# llama-server: built natively from the llama.cpp source bundled in node-llama-cpp by bench/llama-cpp/build.sh
# (.tools/llama-cpp/llama-server).
# Usage: bench/server-load/run-llama-server.sh LLAMA_SERVER GGUF [clients] [requests] [max_tokens]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$1"; model="$2"; clients="${3:-1,4,8,16}"; requests="${4:-32}"; tokens="${5:-32}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log="$(mktemp)"
"$bin" -m "$model" --host 127.0.0.1 --port "$port" -np 16 -c $((16 * 512)) -t 2 -tb 2 --cont-batching --no-webui >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
dotnet run -c Release "$here/load.cs" -- "http://127.0.0.1:$port/" "$clients" "$requests" "$tokens"
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$server/status")"
kill -TERM "$server"; wait "$server" || true
