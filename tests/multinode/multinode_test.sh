#!/usr/bin/env bash
# Multi-node checks on emulated hosts (hosts.sh). Usage: multinode_test.sh CASE WORKDIR
# Cases: setup (hosts + cohort + a 1-host reference run), info, pipeline, index, kill_host, cleanup.
# Exit 77 = skipped (no root or no network namespaces).
set -euo pipefail
case_=$1 W=$2
T=${TSR_TESSERA:?} H="$(dirname "$(readlink -f "$0")")/hosts.sh"
C=$W/cohort
OPTS=(--ref "$C/ref.fa" --samples "$C/samples.tsv" --shard-size 20000 --batch-size 3 --log-level warn --threads 1)
fail() { echo "FAIL: $*" >&2; exit 1; }
# Host names of this run: a prefix of its own, so two test runs on one machine never share hosts.
[ -s "$W/prefix" ] && export TSR_HOSTS_PREFIX=$(cat "$W/prefix")
two_hosts() { "$H" mpirun --host "${TSR_HOSTS_PREFIX}1:2,${TSR_HOSTS_PREFIX}2:2" -n 4 "$@"; }

case $case_ in
setup)
  rm -rf "$W"; mkdir -p "$W"
  export TSR_HOSTS_PREFIX="t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')h"
  echo "$TSR_HOSTS_PREFIX" > "$W/prefix"
  if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns add "${TSR_HOSTS_PREFIX}probe" 2>/dev/null; then
    echo "SKIP: network namespaces cannot be created here (need root and iproute2)"; touch "$W/skip"; exit 77
  fi
  ip netns del "${TSR_HOSTS_PREFIX}probe"
  "$H" down
  "$H" up 2
  "$T" simulate --out "$C" --samples 6 --coverage 12 --length 60000 --populations 2 --fst 0.1 --seed 13 >/dev/null
  mpirun --oversubscribe -n 1 "$T" run "${OPTS[@]}" --out "$W/single" >/dev/null
  ;;
cleanup)
  [ -n "${TSR_HOSTS_PREFIX:-}" ] && "$H" down
  rm -rf "$W"
  ;;
info)
  [ -e "$W/skip" ] && { echo "SKIP: no emulated hosts"; exit 77; }
  two_hosts "$T" info > "$W/info.txt"
  grep -q "4 on 2 node(s)" "$W/info.txt" || fail "info does not see 2 nodes: $(cat "$W/info.txt")"
  for h in "${TSR_HOSTS_PREFIX}1" "${TSR_HOSTS_PREFIX}2"; do
    [ "$(grep -c "^$h " "$W/info.txt")" -eq 2 ] || fail "expected 2 ranks bound on $h: $(cat "$W/info.txt")"
  done
  cat "$W/info.txt"
  ;;
pipeline)
  [ -e "$W/skip" ] && { echo "SKIP: no emulated hosts"; exit 77; }
  rm -rf "$W/multi"
  two_hosts "$T" run "${OPTS[@]}" --out "$W/multi" > "$W/multi.log"
  grep -q "on 4 ranks" "$W/multi.log" || fail "no summary line: $(cat "$W/multi.log")"
  cmp "$W/single/cohort.bcf" "$W/multi/cohort.bcf" || fail "cohort.bcf differs between 1 host and 2 hosts"
  cmp "$W/single/stats.tsv" "$W/multi/stats.tsv" || fail "stats.tsv differs between 1 host and 2 hosts"
  for d in call_genotype variant_position variant_allele call_AD variant_AF; do
    cmp <(h5dump -d "/$d" "$W/single/cohort.h5" | tail -n +2) <(h5dump -d "/$d" "$W/multi/cohort.h5" | tail -n +2) \
      || fail "cohort.h5 dataset $d differs between 1 host and 2 hosts"
  done
  echo "2 hosts x 2 ranks: cohort.bcf, stats.tsv and cohort.h5 datasets identical to 1 host"
  ;;
index)
  # Issue 9 (3): the aligner's index is built once (rank 0) and loaded once per emulated host into memory
  # the host's two ranks share, and the results stay those of the single-host run.
  [ -e "$W/skip" ] && { echo "SKIP: no emulated hosts"; exit 77; }
  out=$W/index; rm -rf "$out" "$W/index.mmi"*
  # a fresh --index file: the setup's run already built the one beside the reference
  two_hosts "$T" run "${OPTS[@]}" --log-level info --index "$W/index.mmi" --out "$out" > "$W/index.log" 2>&1 || fail "run failed: $(cat "$W/index.log")"
  [ "$(grep -c 'index: built ' "$W/index.log")" -eq 1 ] || fail "the index cache was not built exactly once: $(grep 'index:' "$W/index.log")"
  [ "$(grep -c 'index: .* MiB loaded once on node ' "$W/index.log")" -eq 2 ] \
    || fail "expected one index load per host: $(grep 'index:' "$W/index.log")"
  for h in "${TSR_HOSTS_PREFIX}1" "${TSR_HOSTS_PREFIX}2"; do
    [ "$(grep -c "loaded once on node $h, shared by 2 ranks" "$W/index.log")" -eq 1 ] \
      || fail "host $h did not load the index once for its 2 ranks: $(grep 'index:' "$W/index.log")"
  done
  bytes=$(sed -n 's/.*"index_bytes_per_node": \([0-9]*\).*/\1/p' "$out/summary.json")
  [ "${bytes:-0}" -gt 0 ] || fail "summary.json reports no index bytes per node"
  for s in $(cut -f1 "$C/samples.tsv" | tail -n +2); do
    cmp <(samtools view "$W/single/aln/g00000/$s.cram") <(samtools view "$out/aln/g00000/$s.cram") \
      || fail "aln/$s.cram records differ between 1 host and 2 hosts"
  done
  cmp "$W/single/cohort.bcf" "$out/cohort.bcf" || fail "cohort.bcf differs between 1 host and 2 hosts"
  cmp "$W/single/stats.tsv" "$out/stats.tsv" || fail "stats.tsv differs between 1 host and 2 hosts"
  grep 'index:' "$W/index.log"
  echo "index built once, loaded once on each of 2 hosts ($bytes bytes per node); alignments and cohort identical to 1 host"
  ;;
kill_host)
  [ -e "$W/skip" ] && { echo "SKIP: no emulated hosts"; exit 77; }
  out=$W/killhost; rm -rf "$out"
  two_hosts "$T" run "${OPTS[@]}" --out "$out" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    n=$(grep -c '^D' "$out/journal.tsv" 2>/dev/null || true)
    [ "${n:-0}" -ge 3 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  # The whole of host 2 dies: its daemon and its ranks.
  ip netns pids "${TSR_HOSTS_PREFIX}2" | xargs -r kill -9
  rc=0; wait "$pid" || rc=$?
  before=$(grep '^D' "$out/journal.tsv" | grep -vc $'^D\taudit_inputs\t' || true) # tasks, not the input manifest
  echo "host 2 killed: mpirun exit $rc, $before tasks journaled"
  [ "$rc" -ne 0 ] || echo "note: the run finished before host 2 died; the rerun checks replay only"
  two_hosts "$T" run "${OPTS[@]}" --out "$out" > "$W/killhost.log"
  skipped=$(sed -n 's/.*"tasks_skipped_from_journal": \([0-9]*\).*/\1/p' "$out/summary.json")
  [ "$skipped" -ge "$before" ] || fail "the rerun redid journaled tasks ($skipped < $before)"
  cmp "$W/single/cohort.bcf" "$out/cohort.bcf" || fail "resumed cohort.bcf differs"
  echo "rerun on both hosts: $skipped tasks from the journal; cohort.bcf identical"
  ;;
*) fail "unknown case $case_" ;;
esac
