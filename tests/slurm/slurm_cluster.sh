# shellcheck shell=bash disable=SC2034  # SLURM_UP_ERROR is read by the sourcing test
# Sourced by the Slurm tests: a private single-node Slurm cluster for this host.
#   slurm_install          apt-get install slurm-wlm + munge when missing (quiet, idempotent)
#   slurm_up DIR           write DIR/slurm.conf, start munged, slurmctld, slurmd; export SLURM_CONF;
#                          wait until the node is idle. Returns 1 with SLURM_UP_ERROR set on failure.
#   slurm_down             stop the daemons slurm_up started, by pid (call it from an EXIT trap)
# Everything (config, state, spool, logs, munge socket and key) lives under DIR; the host's
# /etc/slurm and any system munged are left alone. Needs root (slurmd must run as root).

SLURM_PIDS=()
SLURM_UP_ERROR=""

slurm_install() {
  local missing=() p
  for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || { SLURM_UP_ERROR="need root to install ${missing[*]}"; return 1; }
  echo "slurm: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    > /tmp/tsr_slurm_apt.$$.log 2>&1 ||
    { SLURM_UP_ERROR="apt-get install ${missing[*]} failed (log: /tmp/tsr_slurm_apt.$$.log)"; return 1; }
  rm -f /tmp/tsr_slurm_apt.$$.log
}

# a TCP port nobody listens on, from a range derived from our pid
_slurm_free_port() {
  local p=$1
  while ss -Hltn "sport = :$p" 2>/dev/null | grep -q . ; do p=$((p + 1)); done
  echo "$p"
}

_slurm_wait_pidfile() {  # FILE SECONDS -> prints the pid
  local i
  for i in $(seq 1 $(($2 * 10))); do
    if [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; then cat "$1"; return 0; fi
    sleep 0.1
  done
  return 1
}

slurm_up() {
  local d=$1 host cpus mem port pid state i
  [ "$(id -u)" -eq 0 ] || { SLURM_UP_ERROR="slurmd must run as root"; return 1; }
  for p in munged slurmctld slurmd sbatch; do
    command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { SLURM_UP_ERROR="$p not installed"; return 1; }
  done
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
  chmod 700 "$d" "$d/munge"
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/^MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  port=$(_slurm_free_port $((20000 + $$ % 20000)))
  local dport; dport=$(_slurm_free_port $((port + 1)))

  # munge: our own key and socket (munged refuses root without --force)
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$d/munge/munge.key"
  /usr/sbin/munged --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" \
    > "$d/log/munged.start" 2>&1 || { SLURM_UP_ERROR="munged did not start: $(tail -1 "$d/log/munged.start")"; return 1; }
  pid=$(_slurm_wait_pidfile "$d/munge/munged.pid" 10) || { SLURM_UP_ERROR="munged did not start"; return 1; }
  SLURM_PIDS+=("$pid")

  cat > "$d/slurm.conf" <<EOF
ClusterName=tsrtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket,cred_expire=10
# a requeued job becomes eligible cred_expire + 1 s later; the scheduler looks every sched_interval s
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  export SLURM_CONF="$d/slurm.conf"
  # no /etc/slurm/slurm.conf on a fresh host: the clients find ours through SLURM_CONF
  /usr/sbin/slurmctld -i -f "$SLURM_CONF" > "$d/log/slurmctld.start" 2>&1 ||
    { SLURM_UP_ERROR="slurmctld did not start: $(tail -1 "$d/log/slurmctld.start")"; return 1; }
  pid=$(_slurm_wait_pidfile "$d/slurmctld.pid" 20) ||
    { SLURM_UP_ERROR="slurmctld did not start: $(tail -2 "$d/log/slurmctld.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
  SLURM_PIDS+=("$pid")
  /usr/sbin/slurmd -f "$SLURM_CONF" > "$d/log/slurmd.start" 2>&1 ||
    { SLURM_UP_ERROR="slurmd did not start: $(tail -1 "$d/log/slurmd.start")"; return 1; }
  pid=$(_slurm_wait_pidfile "$d/slurmd.pid" 20) ||
    { SLURM_UP_ERROR="slurmd did not start: $(tail -2 "$d/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
  SLURM_PIDS+=("$pid")
  for i in $(seq 1 300); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1)
    [ "$state" = idle ] && return 0
    sleep 0.1
  done
  SLURM_UP_ERROR="node never became idle (state '$state'): $(tail -2 "$d/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
  return 1
}

slurm_down() {
  local i pid
  # reverse order: slurmd, slurmctld, munged
  for ((i = ${#SLURM_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${SLURM_PIDS[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  SLURM_PIDS=()
}
