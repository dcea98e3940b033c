#!/usr/bin/env bash
# Simulates a two-node cluster without a shared disk on this one machine and runs COMMAND on the first node.
#
#   scripts/two-hosts.sh --work DIR [--np-per-host N] -- COMMAND [ARGS...]
#
# --work DIR        DIR/node-a and DIR/node-b are the private disks of the two nodes (created if missing, kept
#                   afterwards for inspection); each node sees its own one at the same path, DIR/scratch
# --np-per-host N   slots per node in the hostfile (default 1)
# The nodes are two network namespaces joined by a veth pair: node-a (10.77.0.1, runs COMMAND and mpirun) and
# node-b (10.77.0.2), each with its own hostname and /etc/hosts. Everything outside DIR/scratch is shared.
# COMMAND gets these environment variables:
#   TWO_HOSTS_MPIRUN      mpirun across both nodes, with all the flags it needs: "$TWO_HOSTS_MPIRUN" -np 2 prog args
#   TWO_HOSTS_SCRATCH     DIR/scratch;  TWO_HOSTS_NODE_A_DIR, TWO_HOSTS_NODE_B_DIR: DIR/node-a, DIR/node-b
#   TWO_HOSTS_NODE_B_NS   node-b's namespace (ip netns pids "$TWO_HOSTS_NODE_B_NS" works on node-a)
#   TWO_HOSTS_KILL_B      "$TWO_HOSTS_KILL_B" SIGNAL NAME_REGEX: signals node-b's processes whose name matches
#   OPENBLAS_NUM_THREADS  kept if set, else cores / (2 N) (the two nodes share this machine's cores)
# Exit status: COMMAND's. Needs root, iproute2, util-linux and openmpi-bin. When namespaces cannot be created
# (no root, a container without CAP_SYS_ADMIN/CAP_NET_ADMIN) it prints "two-hosts: SKIPPED: ..." and exits 77,
# or 1 with AUTOSAM_REQUIRE_TWO_HOSTS=1. Namespaces, processes left in them and temp files are removed at exit,
# also on failure, Ctrl-C and SIGTERM.
set -euo pipefail

work="" np_per_host=1
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="${2:?--work needs a folder}"; shift 2 ;;
    --np-per-host) np_per_host="${2:-}"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "two-hosts: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$work" ] || { echo "two-hosts: --work DIR is required (see --help)" >&2; exit 2; }
[ $# -gt 0 ] || { echo "two-hosts: no COMMAND given after -- (see --help)" >&2; exit 2; }
case "$np_per_host" in ''|*[!0-9]*|0) echo "two-hosts: --np-per-host must be a positive integer" >&2; exit 2 ;; esac

skip() {  # the machine cannot host the simulation: skip (77) unless the caller requires it
  if [ "${AUTOSAM_REQUIRE_TWO_HOSTS:-0}" = 1 ]; then
    echo "two-hosts: error: $* (and AUTOSAM_REQUIRE_TWO_HOSTS=1)" >&2; exit 1
  fi
  echo "two-hosts: SKIPPED: $*" >&2; exit 77
}
[ "$(id -u)" -eq 0 ] || skip "must run as root (network namespaces, mounts)"
for tool in ip:iproute2 unshare:util-linux mount:mount hostname:hostname mpirun:openmpi-bin; do
  command -v "${tool%%:*}" >/dev/null || { echo "two-hosts: '${tool%%:*}' not found: install ${tool#*:}" >&2; exit 1; }
done

mkdir -p "$work/node-a" "$work/node-b" "$work/scratch"
work=$(cd "$work" && pwd -P)
ip_a=10.77.0.1 ip_b=10.77.0.2 net=10.77.0.0/24
ns_a="two-hosts-a-$$" ns_b="two-hosts-b-$$"
tmp="" done_cleanup=0

kill_all() {  # signals every process inside our namespaces until none is left (TERM, then KILL after ~2 s)
  local i pids
  for i in $(seq 40); do
    pids=$( (ip netns pids "$ns_a"; ip netns pids "$ns_b") 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -s "$([ "$i" -le 20 ] && echo TERM || echo KILL)" $pids 2>/dev/null || true
    sleep 0.1
  done
}
cleanup() {  # idempotent; deleting a namespace also deletes its end of the veth pair
  [ "$done_cleanup" = 0 ] || return 0
  done_cleanup=1
  kill_all
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

err=$(ip netns add "$ns_a" 2>&1 && ip netns add "$ns_b" 2>&1) || skip "cannot create network namespaces: $err"
err=$(ip link add "th$$a" netns "$ns_a" type veth peer name "th$$b" netns "$ns_b" 2>&1) ||
  skip "cannot create a veth pair: $err"
err=$(unshare --uts --mount true 2>&1) || skip "cannot create UTS/mount namespaces: $err"
up() { ip -n "$1" link set lo up; ip -n "$1" addr add "$3/24" dev "$2"; ip -n "$1" link set "$2" up; }
up "$ns_a" "th$$a" "$ip_a"
up "$ns_b" "th$$b" "$ip_b"

# Helper scripts; the folder must not contain spaces (OpenMPI splits plm_rsh_agent at spaces).
tmp=$(mktemp -d -t two-hosts.XXXXXX)
case "$tmp" in *[[:space:]]*) echo "two-hosts: temp folder '$tmp' contains spaces: set TMPDIR" >&2; exit 1 ;; esac
declare -p ns_a ns_b ip_a ip_b net work tmp >"$tmp/vars"
printf '127.0.0.1 localhost\n%s node-a\n%s node-b\n' "$ip_a" "$ip_b" >"$tmp/hosts"
printf '%s slots=%s\n' "$ip_a" "$np_per_host" "$ip_b" "$np_per_host" >"$tmp/hostfile"

cat >"$tmp/enter" <<'EOF'
#!/usr/bin/env bash
# enter HOST COMMAND...: runs COMMAND on node-a or node-b (HOST: name or address): its network namespace,
# hostname, /etc/hosts and scratch folder; mounts are private to the new process tree.
source "${BASH_SOURCE%/*}/vars"
case "$1" in
  node-a|"$ip_a") ns=$ns_a h=node-a ;;
  node-b|"$ip_b") ns=$ns_b h=node-b ;;
  *) echo "two-hosts: unknown host '$1'" >&2; exit 255 ;;
esac
shift
exec ip netns exec "$ns" unshare --uts --mount --propagation private sh -c \
  'hostname "$1" && mount --bind "$2/$1" "$2/scratch" && mount --bind "$3" /etc/hosts && shift 3 && exec "$@"' \
  sh "$h" "$work" "$tmp/hosts" "$@"
EOF
cat >"$tmp/agent" <<'EOF'
#!/usr/bin/env bash
# OpenMPI's plm_rsh_agent ("ssh HOST REMOTE COMMAND..."): the remote command is a shell string, as with ssh.
host=$1; shift
exec "${BASH_SOURCE%/*}/enter" "$host" sh -c "$*"
EOF
cat >"$tmp/mpirun" <<'EOF'
#!/usr/bin/env bash
# mpirun across node-a and node-b: "$TWO_HOSTS_MPIRUN" -np 2 prog args
source "${BASH_SOURCE%/*}/vars"
root=(); [ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)
# mpi_yield_when_idle: the ranks of both "nodes" share this machine's cores; busy polling makes all-reduces
# 25-40x slower. The TCP interfaces are restricted to the veth network so that nothing leaves the namespaces.
exec mpirun --hostfile "$tmp/hostfile" --mca plm_rsh_agent "$tmp/agent" --mca plm_rsh_no_tree_spawn 1 \
  --mca btl tcp,self --mca oob_tcp_if_include "$net" --mca btl_tcp_if_include "$net" \
  --mca mpi_yield_when_idle 1 --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_WAIT_POLICY "${root[@]}" "$@"
EOF
cat >"$tmp/kill-b" <<'EOF'
#!/usr/bin/env bash
# kill-b SIGNAL NAME_REGEX: sends SIGNAL (KILL, TERM, 9; 0 only tests) to node-b's processes whose name (ps -o comm)
# matches the extended regex; fails when none matched.
source "${BASH_SOURCE%/*}/vars"
sig=${1#-} pattern=${2:?usage: kill-b SIGNAL NAME_REGEX} found=1
for pid in $(ip netns pids "$ns_b"); do
  name=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
  if [[ $name =~ $pattern ]] && kill -s "$sig" "$pid" 2>/dev/null; then
    echo "two-hosts: sent SIG${sig#SIG} to $name (pid $pid) on node-b" >&2; found=0
  fi
done
exit $found
EOF
chmod +x "$tmp/enter" "$tmp/agent" "$tmp/mpirun" "$tmp/kill-b"

threads=$(( $(nproc) / (2 * np_per_host) )); [ "$threads" -ge 1 ] || threads=1
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$threads}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export TWO_HOSTS_MPIRUN="$tmp/mpirun" TWO_HOSTS_KILL_B="$tmp/kill-b" TWO_HOSTS_NODE_B_NS="$ns_b"
export TWO_HOSTS_SCRATCH="$work/scratch" TWO_HOSTS_NODE_A_DIR="$work/node-a" TWO_HOSTS_NODE_B_DIR="$work/node-b"

# COMMAND runs in the background so that INT/TERM reach the traps at once (bash defers traps until a foreground
# child ends); env restores the default INT/QUIT handling that background children get ignored, <&0 keeps stdin.
"$tmp/enter" node-a env --default-signal=INT,QUIT "$@" <&0 &
rc=0; wait "$!" || rc=$?
exit "$rc"
