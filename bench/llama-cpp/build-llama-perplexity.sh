#!/usr/bin/env bash
# Builds llama.cpp's llama-perplexity natively from the llama.cpp source bundled in node-llama-cpp
# (.tools/llama/node_modules/node-llama-cpp/llama/gitRelease.bundle, installed by .ci/install-llama-cpp) into
# .tools/llama-perplexity, for the perplexity --protocol llama.cpp cross-check (tests/QuantSharp.Tests/Evaluation/
# LlamaPerplexityCrossCheckTests.cs). Needs git, cmake and a C++ compiler; takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=.tools/llama/node_modules/node-llama-cpp/llama/gitRelease.bundle
[ -f "$bundle" ] || .ci/install-llama-cpp
[ -f "$bundle" ] || { echo "no llama.cpp source bundle at $bundle (node-llama-cpp not installed)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$bundle" "$work/llama.cpp"
cmake -S "$work/llama.cpp" -B "$work/build" -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$work/build" --target llama-perplexity -j"$(nproc)" >/dev/null
mkdir -p .tools
tmp=$(mktemp -d .tools/llama-perplexity.tmp-XXXXXX)
cp "$work/build/bin/llama-perplexity" "$tmp/"
rm -rf .tools/llama-perplexity && mv "$tmp" .tools/llama-perplexity
echo "built .tools/llama-perplexity/llama-perplexity from $(git -C "$work/llama.cpp" log --oneline -1 | cut -c1-7)"
