#!/usr/bin/env bash
# Build autosam in release mode and run it, locally or under mpirun.
#
#   ./launch.sh [--np N] [--hostfile FILE] [--threads T] [--debug-build] [--] [autosam arguments]
#
# --np N          ranks (default 2 on this node; 1 runs without mpirun: single-node debug mode)
# --hostfile F    run across the hosts in F (OpenMPI hostfile; see cluster/README.md)
# --threads T     BLAS threads per rank (default: cores / ranks on this node, at least 1)
# Without autosam arguments it runs the default job (see README.md).
set -euo pipefail
cd "$(dirname "$0")"

np=2
hostfile=""
threads=""
config="release"
while [ $# -gt 0 ]; do
  case "$1" in
    --np) np="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --debug-build) config="debug"; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
case "$np" in ''|*[!0-9]*|0) echo "launch.sh: --np must be a positive integer, got '$np'" >&2; exit 2 ;; esac

bash scripts/setup.sh
swift build -c "$config" --product autosam 2>&1 | grep -E "error|warning: unre|Compiling|Build" | tail -3
bin="$(swift build -c "$config" --show-bin-path)/autosam"

demo=0
if [ $# -eq 0 ]; then
  demo=1
  set -- train --config configs/demo.json
fi

cores=$(nproc)
if [ -z "$threads" ]; then
  threads=$(( cores / np )); [ "$threads" -ge 1 ] || threads=1
fi
export OPENBLAS_NUM_THREADS="$threads"
# oneDNN's OpenMP workers (bf16 encoder) sleep between matmuls instead of spinning on the cores the
# element-wise passes need (4 % of a bf16 encoder pass here); read by libgomp at start-up only.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

if [ "$np" -eq 1 ] && [ -z "$hostfile" ]; then
  cmd=("$bin" "$@")
else
  cmd=(mpirun -np "$np" --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_WAIT_POLICY)
  [ -n "$hostfile" ] && cmd+=(--hostfile "$hostfile")
  [ "$(id -u)" -eq 0 ] && cmd+=(--allow-run-as-root)
  [ -z "$hostfile" ] && [ "$np" -gt "$cores" ] && cmd+=(--oversubscribe)
  cmd+=("$bin" "$@")
fi
echo "launch.sh: OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=$OMP_WAIT_POLICY ${cmd[*]}"
[ "$demo" -eq 1 ] || exec "${cmd[@]}"

# The demo ends with its report: one self-contained HTML file (README: "Looking at the results").
"${cmd[@]}"
"$bin" report runs/demo
echo "launch.sh: demo report: $(pwd)/runs/demo/report.html (open it in any browser)"
