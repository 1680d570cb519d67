#!/usr/bin/env bash
# Mutation testing with Stryker.NET: bench/mutation/run.sh NAME 'GLOB[,GLOB…]' 'TEST-FILTER'
#   GLOB: files of src/QuantSharp to mutate, relative to it (e.g. 'Formats/NpyFile.cs,Formats/Safetensors*.cs')
#   TEST-FILTER: the tests run against each mutant, in `dotnet test --filter` syntax
#   e.g. bench/mutation/run.sh formats-io 'Formats/NpyFile.cs,Formats/Safetensors*.cs,Formats/Atomic*.cs,Formats/OutputTemporaries.cs' \
#          'FullyQualifiedName~QuantSharp.Tests.Formats.SafetensorsTests|FullyQualifiedName~QuantSharp.Tests.Formats.OutputTemporariesTests|FullyQualifiedName~QuantSharp.Tests.Formats.NpyFileTests'
# Installs dotnet-stryker 5.1.0 into .tools/, runs on one core, prints the mutation score; the HTML and JSON reports land
# in .mutation/NAME (git-ignored). Stryker compiles every mutant into the library at once, which slows the kernels many
# times over: keep the files and tests of one run small (a whole folder with its tests takes hours on 2 cores).
# It writes the mutated library into the test project's bin folder: rebuild (dotnet build) before running tests again.
set -euo pipefail
name=${1:?usage: bench/mutation/run.sh NAME GLOBS TEST-FILTER}
globs=${2:?usage: bench/mutation/run.sh NAME GLOBS TEST-FILTER}
filter=${3:?usage: bench/mutation/run.sh NAME GLOBS TEST-FILTER}
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=$root/.tools
[ -x "$tools/dotnet-stryker" ] || dotnet tool install dotnet-stryker --version 5.1.0 --tool-path "$tools" >/dev/null
out=$root/.mutation/$name
rm -rf "$out"; mkdir -p "$out"
args=()
IFS=',' read -ra patterns <<< "$globs"
for g in "${patterns[@]}"; do args+=(--mutate "$g"); done
cd "$root/tests/QuantSharp.Tests"
"$tools/dotnet-stryker" --config-file "$root/bench/mutation/stryker-config.json" "${args[@]}" --test-case-filter "$filter" --output "$out" \
  > "$out/stryker.log" 2>&1 || { tail -20 "$out/stryker.log"; exit 1; }
grep -E "mutants created|mutation score|Killed:|Survived:|Timeout:|No coverage:|Ignored:" "$out/stryker.log" | sed 's/^\[[0-9:]* [A-Z]*\] //' || true
