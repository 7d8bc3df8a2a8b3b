#!/usr/bin/env bash
# tessera info under mpirun at 2 ranks: exit codes, one line per rank and
# thread in rank order, and every thread really bound to the PU it was given.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }

grep -q -- "--threads" <<<"$("$TSR_TESSERA" info --help)" || fail "--help does not describe --threads"
rc=0; "$TSR_TESSERA" info --threads zero 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "bad --threads exited $rc, expected 2"
rc=0; "$TSR_TESSERA" info --topology "bogus:2" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "bad --topology exited $rc, expected 2"

out=$("$TSR_MPIEXEC" --oversubscribe -n 2 "$TSR_TESSERA" info --threads 2)
echo "$out"
grep -q "^ranks *2 " <<< "$out" || fail "rank count line missing"
table() { awk 'f && NF >= 7 && $2 ~ /^[0-9]+$/; $1 == "host" { f = 1 }'; }  # the thread lines after the header
rows=$(echo "$out" | table)
[ "$(echo "$rows" | wc -l)" -eq 4 ] || fail "expected 4 thread lines (2 ranks x 2 threads)"
[ "$(echo "$rows" | awk '{printf "%s:%s ", $2, $5}')" = "0:0 0:1 1:0 1:1 " ] || fail "lines not in rank/thread order"
echo "$rows" | awk '$6 != $7 { bad = 1 } END { exit bad }' || fail "a thread is not bound to its PU"

# synthetic topology: the placement of 4 ranks on 4 NUMA domains, one per domain
out=$("$TSR_MPIEXEC" --oversubscribe -n 4 "$TSR_TESSERA" info --threads 1 --topology "package:2 numa:2 core:4 pu:1")
doms=$(echo "$out" | table | awk '{ printf "%s:%s ", $4, $6 }')
[ "$doms" = "0:0 1:4 2:8 3:12 " ] || fail "synthetic placement gave '$doms'"
# more threads than the rank's cores: one warning that names the cores and what to do
out=$("$TSR_MPIEXEC" --oversubscribe -n 1 "$TSR_TESSERA" info --threads 2 --topology "package:1 numa:1 core:1 pu:1" 2>&1)
grep -q "2 threads asked for, but this rank may use 1 core(s) (PUs 0).*lower --threads" <<<"$out" ||
  fail "no warning for 2 threads on 1 core: $out"
out=$("$TSR_MPIEXEC" --oversubscribe -n 1 "$TSR_TESSERA" info --threads 2 --topology "package:1 numa:1 core:2 pu:1" 2>&1)
! grep -q "threads will share cores" <<<"$out" || fail "warned for 2 threads on 2 cores: $out"
echo "ok"
