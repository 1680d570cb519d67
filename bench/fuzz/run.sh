#!/usr/bin/env bash
# Coverage-guided fuzzing of one QuantSharp parser: bench/fuzz/run.sh TARGET SECONDS
#   TARGET: one of `dotnet .fuzz/build/plain/QuantSharp.Fuzz.dll list` (bench/fuzz/QuantSharp.Fuzz/FuzzTargets.cs)
# Publishes bench/fuzz/QuantSharp.Fuzz twice when the sources changed: plain (to replay findings) and with
# QuantSharp.dll and QuantSharp.Server.dll instrumented by SharpFuzz (edge coverage for afl-fuzz; instrumented code only
# runs under afl-fuzz). Seeds the corpus from ../shared, runs afl-fuzz (AFL++, Debian package afl++) for SECONDS on one
# core, prints one line of figures (executions, edges, crashes, hangs) and replays every crash and hang in the plain build.
# Work and findings go to .fuzz/TARGET (git-ignored); the corpus is kept, so a second run goes on where the first stopped.
# Each crash or hang, once fixed, becomes a file in tests/QuantSharp.Tests/Fuzz/regressions/TARGET/, which CI replays.
set -euo pipefail
target=${1:?usage: bench/fuzz/run.sh TARGET SECONDS}
seconds=${2:?usage: bench/fuzz/run.sh TARGET SECONDS}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/.fuzz/$target
build=$root/.fuzz/build
tools=$root/.tools
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

command -v afl-fuzz >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null; }
[ -x "$tools/sharpfuzz" ] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null

stamp=$(find "$root/src" "$root/bench/fuzz" -name '*.cs' -o -name '*.csproj' | grep -v '/obj/' | sort | xargs cat | sha1sum | cut -c1-16)
# FUZZ_KEEP_BUILD=1 (or a file .fuzz/build/keep) fuzzes the existing build while the sources change (a long campaign).
if [ "$(cat "$build/stamp" 2>/dev/null)" != "$stamp" ] && ! { [ "${FUZZ_KEEP_BUILD:-0}" = 1 ] || [ -f "$build/keep" ]; } ; then
  rm -rf "$build"
  dotnet publish "$root/bench/fuzz/QuantSharp.Fuzz" -c Release -o "$build/plain" --nologo -v q >/dev/null
  cp -r "$build/plain" "$build/afl"
  for dll in QuantSharp.dll QuantSharp.Server.dll; do "$tools/sharpfuzz" "$build/afl/$dll" >/dev/null; done
  echo "$stamp" > "$build/stamp"
fi

mkdir -p "$work"
if [ -d "$work/findings/default/queue" ]; then
  seeds=-   # resume the existing corpus
else
  seeds=$work/seeds
  rm -rf "$seeds"
  dotnet "$build/plain/QuantSharp.Fuzz.dll" seeds "$target" "$seeds" >/dev/null
fi

# -t: a hang is an input that takes over 5 s (the slowest legitimate inputs take well under 1 s).
# DOTNET_GCHeapHardLimit: 1 GiB of managed heap, so an input that makes a parser allocate far more than it holds fails
# with OutOfMemoryException, which counts as a crash (inputs are at most a few MB).
DOTNET_GCHeapHardLimit=0x40000000 AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
  afl-fuzz -V "$seconds" -i "$seeds" -o "$work/findings" -t 5000 -m none -- dotnet "$build/afl/QuantSharp.Fuzz.dll" afl "$target" \
  > "$work/afl.log" 2>&1 || { echo "$target: afl-fuzz failed"; tail -30 "$work/afl.log"; exit 1; }

stats=$work/findings/default/fuzzer_stats
get() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
echo "$target: $(get execs_done) executions in $(get run_time) s ($(get execs_per_sec)/s), $(get edges_found) edges, corpus $(get corpus_count), $(get saved_crashes) crashes, $(get saved_hangs) hangs"
found=$(find "$work/findings/default/crashes" "$work/findings/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
if [ "$found" -gt 0 ]; then
  echo "replaying $found crash/hang inputs in the plain build:"
  find "$work/findings/default/crashes" "$work/findings/default/hangs" -type f -name 'id:*' -print0 \
    | xargs -0 dotnet "$build/plain/QuantSharp.Fuzz.dll" replay "$target" 2>&1 | grep -v '^   at ' | tail -40 || true
fi
