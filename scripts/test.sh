#!/usr/bin/env bash
# The whole test suite: installs missing system packages, builds, runs every test.
# This is the README's test command and exactly what CI (.ci/run) runs.
#
# With no arguments it then runs the numerically sensitive test targets again under other
# OpenBLAS kernel families than the one this CPU uses (each family rounds differently), so a test
# that only passes with one CPU's rounding fails on every machine, not just on another CPU.
# Arguments are passed to `swift test` (e.g. --filter LossTests) and skip that second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Tests run in release mode: element loops in debug builds are 10-100x slower (PLATFORM.md).
swift build -c release --build-tests -Xswiftc -enable-testing
run_tests() { swift test -c release --skip-build --disable-swift-testing -Xswiftc -enable-testing "$@"; }
started=$(date +%s)
run_tests "$@"
echo "test.sh: suite on the detected kernels took $(( $(date +%s) - started )) s"
[ $# -eq 0 ] || exit 0
[ "$(uname -m)" = x86_64 ] || exit 0   # the kernel families below are x86 ones

# The kernel family in use (after the program's own correction of misdetected CPUs).
active=$(.build/release/autosam info | sed -n 's/^OpenBLAS core: *\([A-Za-z0-9]*\).*/\1/p')
sensitive='^(TrainingTests|HeadsTests|LayersTests|OptimTests|SAMTests|TensorsTests|MetricsTests)\.'
families=()
# Haswell (AVX2 + FMA) where the CPU has it: the family of most AVX2-only machines.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then families+=(Haswell); fi
families+=(Prescott)                 # SSE3: runs on every x86-64 CPU
for family in "${families[@]}"; do
  if [ "${family,,}" = "${active,,}" ]; then continue; fi
  echo "test.sh: numerically sensitive targets again with OPENBLAS_CORETYPE=$family (detected: ${active:-unknown})"
  started=$(date +%s)
  OPENBLAS_CORETYPE=$family run_tests --filter "$sensitive"
  echo "test.sh: $family pass took $(( $(date +%s) - started )) s"
done

# With oneDNN limited to AVX2 (what an AVX2-only CPU gets): the bfloat16 encoder's refusal path (a
# clear error, never a silent fallback), the encoder attention's OpenBLAS products and the MLP's
# separate GELU pass, which AVX-512 CPUs replace by oneDNN's products and epilogues.
if .build/release/autosam info | grep -q '^encoder attention: .*oneDNN'; then
  echo "test.sh: bfloat16 and encoder attention tests again with ONEDNN_MAX_CPU_ISA=AVX2"
  isa='BFloat16Tests|EncoderPrecisionTests|CacheIdentityTests|AttentionTests|WindowedAttentionTests|ImageEncoderTests'
  isa+='|LinearGELUTests'
  ONEDNN_MAX_CPU_ISA=AVX2 run_tests --filter "$isa"
fi
