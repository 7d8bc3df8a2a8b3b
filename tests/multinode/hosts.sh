#!/usr/bin/env bash
# Emulated hosts for multi-node tests: each host is a network namespace with its own address on a
# private bridge and its own host name (a UTS namespace per command). Open MPI starts its daemons on
# them through an rsh agent, so ranks on different "hosts" talk TCP and MPI_COMM_TYPE_SHARED gives
# one node communicator per host.
#
#   hosts.sh up N            create hosts P1..PN (needs root and `ip`); prints nothing
#   (P is $TSR_HOSTS_PREFIX, default "tsrh": give each concurrent test run its own prefix)
#   hosts.sh run H CMD...    run CMD on host H (inside its namespace, with its host name)
#   hosts.sh mpirun ARGS...  run mpirun on host P1 with the agent and TCP settings (ARGS: --host ... etc.)
#   hosts.sh down            remove every namespace, link and /etc/hosts line this script made
#
# Everything uses the 10.213.7.0/24 subnet, which exists only inside these namespaces. The bridge
# lives in its own namespace (Psw), so the machine's own network is never touched.
set -euo pipefail
SUBNET=10.213.7
P=${TSR_HOSTS_PREFIX:-tsrh}
MARK="# tessera-multinode-test $P"
SELF="$(readlink -f "$0")"

up() {
  local n=$1
  ip netns add "${P}sw"
  ip -n "${P}sw" link add tsrbr type bridge
  ip -n "${P}sw" link set tsrbr up
  for i in $(seq 1 "$n"); do
    local h=$P$i
    ip netns add "$h"
    ip link add "v$h" type veth peer name eth0 netns "$h"
    ip link set "v$h" netns "${P}sw"
    ip -n "${P}sw" link set "v$h" master tsrbr up
    ip -n "$h" addr add "$SUBNET.$i/24" dev eth0
    ip -n "$h" link set eth0 up
    ip -n "$h" link set lo up
    echo "$SUBNET.$i $h $MARK" >> /etc/hosts
  done
}

down() {
  for h in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$P([0-9]+|sw)\$" || true); do
    ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$h" 2>/dev/null || true
  done
  if grep -qF "$MARK" /etc/hosts 2>/dev/null; then
    # /etc/hosts may be a bind mount: rewrite it in place rather than replacing the file.
    local keep; keep=$(grep -vF "$MARK" /etc/hosts)
    printf '%s\n' "$keep" > /etc/hosts
  fi
}

run_on() {
  local h=$1; shift
  exec ip netns exec "$h" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$h" "$@"
}

case "${1:-}" in
up) up "${2:-2}" ;;
down) down ;;
run) shift; run_on "$@" ;;
agent)
  # Open MPI's rsh agent: agent [options] HOST COMMAND... (options such as -x are dropped)
  shift
  while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
  h=$1; shift
  run_on "$h" sh -c "$*"
  ;;
mpirun)
  shift
  run_on "${P}1" mpirun --mca plm_rsh_agent "$SELF agent" --mca btl tcp,self \
    --mca btl_tcp_if_include "$SUBNET.0/24" --mca oob_tcp_if_include "$SUBNET.0/24" "$@"
  ;;
*) echo "usage: hosts.sh up N | run HOST CMD... | mpirun ARGS... | down" >&2; exit 2 ;;
esac
