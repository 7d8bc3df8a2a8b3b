#!/usr/bin/env bash
# --mem-per-rank in deep mode (issue 17).
#   identity: the joint kernel reads its batches and writes its call set a window of sites at a time; the
#             records do not depend on the window: a run without a budget and runs at the smallest budget
#             the plan accepts (which on a cohort this small still holds the region in one window) forced to
#             windows of 2 and 3 sites (--joint-window) give byte-identical cohort.bcf, stats.tsv and
#             sample_qc.tsv: no budget at 1 rank, the least budget in windows of 2 at 2 ranks, windows of 3
#             at 3 ranks. The forced runs' log must show
#             many windows (so the test cannot pass with one window); the budgeted run's cohort stage
#             reads the call set in windows of 16 sites (the least budget's cohort share), so its log
#             must show several cohort windows too.
#   refuse:   a budget that cannot fit is refused before any work: exit status 2, one line naming the stage
#             and the least --mem-per-rank, no cohort output; that least budget is then accepted.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
case=${1:?usage: mem_budget.sh identity|refuse}
W=$(mktemp -d /tmp/tsr_mem_budget.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "mem_budget $case: $*" >&2; exit 1; }
"$T" simulate --out "$W/sim" --samples 24 --coverage 4 --length 20000 --bam --seed 7 > /dev/null
common=(--ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --mode deep --batch-size 6 --threads 1)
# least NAME: the least budget the refusal of a 1M budget names
least() {
  set +e
  "$T" run "${common[@]}" --out "$W/$1" --mem-per-rank 1M > "$W/$1.out" 2> "$W/$1.err"
  local rc=$?
  set -e
  [ "$rc" -eq 2 ] || { cat "$W/$1.err" >&2; fail "a 1M budget gave exit status $rc, not 2"; }
  sed -n 's/.*give at least --mem-per-rank \([0-9]*M\).*/\1/p' "$W/$1.err"
}
run() { # NAME NP ARGS...: a run at NP ranks
  local name=$1 np=$2
  shift 2
  "$MPI" --oversubscribe -n "$np" "$T" run "${common[@]}" --out "$W/$name" --log-level debug "$@" \
    > "$W/$name.log" 2>&1 || { tail -5 "$W/$name.log" >&2; fail "$name: the run failed"; }
}
same() { # NAME: its outputs equal the unbudgeted run's
  for f in cohort.bcf stats.tsv sample_qc.tsv; do
    cmp -s "$W/plain/$f" "$W/$1/$f" || fail "$1: $f differs from the run without a budget"
  done
}
windows() { # NAME: the joint windows its log reports (the largest count)
  sed -n 's/.* in \([0-9]*\) windows of at most .*/\1/p' "$W/$1.log" | sort -n | tail -1
}
case $case in
identity)
  min=$(least refused)
  [ -n "$min" ] || fail "the refusal names no least budget"
  run plain 1
  run w2np2 2 --mem-per-rank "$min" --joint-window 2
  grep -q -- "--mem-per-rank .* joint window [0-9]* sites" "$W/w2np2.log" || fail "the plan did not log its budget"
  run w3np3 3 --joint-window 3
  for n in w2np2 w3np3; do
    same $n
    nw=$(windows $n)
    [ "${nw:-0}" -ge 10 ] || fail "$n: the joint ran ${nw:-0} windows, expected many"
  done
  cw=$(sed -n 's/.*cohort: .* in \([0-9]*\) call-set windows of at most .*/\1/p' "$W/w2np2.log" | sort -n | tail -1)
  [ "${cw:-0}" -ge 2 ] || fail "w2np2: the cohort stage read ${cw:-0} call-set windows, expected several"
  nsites=$(grep -c -v '^#' < <(bcftools view -H "$W/plain/cohort.bcf")) || true
  [ "$nsites" -gt 20 ] || fail "only $nsites sites: too few to test windows"
  echo "mem_budget identity: $nsites sites identical without a budget and at --mem-per-rank $min in windows of" \
       "2-3 sites ($(windows w2np2) windows; cohort stage in $cw call-set windows) at 1, 2 and 3 ranks"
  ;;
refuse)
  min=$(least refused)
  lines=$(grep -c . "$W/refused.err" || true)
  [ "$lines" -eq 1 ] || { cat "$W/refused.err" >&2; fail "the refusal printed $lines lines, not 1"; }
  grep -q "cannot fit the \(call\|joint\|cohort\) stage" "$W/refused.err" || fail "the refusal names no stage"
  [ -n "$min" ] || fail "the refusal names no least budget"
  [ ! -e "$W/refused/cohort.bcf" ] && [ ! -e "$W/refused/evidence" ] || fail "work was done before the refusal"
  # the least budget is accepted; one MiB under it is refused again
  under=$(( ${min%M} - 2 ))M
  set +e
  "$T" run "${common[@]}" --out "$W/under" --mem-per-rank "$under" > /dev/null 2> "$W/under.err"
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "--mem-per-rank $under (under the least $min) gave exit status $rc"
  run atleast 1 --mem-per-rank "$min"
  [ -s "$W/atleast/cohort.bcf" ] || fail "the least budget $min made no cohort.bcf"
  echo "mem_budget refuse: $(cat "$W/refused.err")"
  ;;
*) fail "unknown case" ;;
esac
