#!/usr/bin/env bash
# Builds llama.cpp's own tools natively (-DGGML_NATIVE=ON, Release) from the llama.cpp source bundled in node-llama-cpp
# (.tools/llama/node_modules/node-llama-cpp/llama/gitRelease.bundle, llama.cpp de3ff81, installed by
# .ci/install-llama-cpp) into .tools/llama-cpp/: llama-bench, llama-quantize, llama-perplexity, llama-imatrix and
# llama-server. `quantsharp bench --llama-bench .tools/llama-cpp/llama-bench` then times the canonical peer, and
# LlamaPerplexityCrossCheckTests finds llama-perplexity there. Needs git, cmake and a C++ compiler; about 10 minutes
# on 2 cores; not run in CI. Usage: bash bench/llama-cpp/build.sh [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(llama-bench llama-quantize llama-perplexity llama-imatrix llama-server)
bundle=.tools/llama/node_modules/node-llama-cpp/llama/gitRelease.bundle
[ -f "$bundle" ] || .ci/install-llama-cpp
[ -f "$bundle" ] || { echo "build.sh: no llama.cpp source bundle at $bundle (node-llama-cpp not installed)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$bundle" "$work/llama.cpp"
cmake -S "$work/llama.cpp" -B "$work/build" -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$work/build" --target "${targets[@]}" -j"$(nproc)" >/dev/null
mkdir -p .tools
tmp=$(mktemp -d .tools/llama-cpp.tmp-XXXXXX)
for t in "${targets[@]}"; do cp "$work/build/bin/$t" "$tmp/"; done
git -C "$work/llama.cpp" log --oneline -1 | cut -c1-7 > "$tmp/COMMIT"
if [ -d .tools/llama-cpp ]; then cp -n .tools/llama-cpp/* "$tmp/" 2>/dev/null || true; fi
rm -rf .tools/llama-cpp && mv "$tmp" .tools/llama-cpp
echo "built ${targets[*]} into .tools/llama-cpp from llama.cpp $(cat .tools/llama-cpp/COMMIT)"
