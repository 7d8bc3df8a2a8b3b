#!/usr/bin/env bash
# End-to-end checks of `tessera run`. Usage: pipeline_test.sh CASE WORKDIR [ARGS]
# Needs $TSR_TESSERA (the binary) and $TSR_MPIEXEC from CTest's environment.
set -euo pipefail
case_=$1 W=$2
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
SRC=${TSR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
C=$W/cohort
RUNOPTS=(--ref "$C/ref.fa" --samples "$C/samples.tsv" --shard-size 20000 --batch-size 3 --log-level warn)
fail() { echo "FAIL: $*" >&2; exit 1; }
records() { bcftools view -H "$1"; }

wait_journal() { # wait_journal OUT N PID: until OUT's journal holds N records or PID ends (30 s at most)
  local n
  for _ in $(seq 1 600); do
    n=$(grep -c '^D' "$1/journal.tsv" 2>/dev/null || true)
    [ "${n:-0}" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || return 0
    sleep 0.05
  done
}

run_np() { # run_np NP OUT [extra args]
  local np=$1 out=$2; shift 2
  "$MPI" --oversubscribe -n "$np" "$T" run "${RUNOPTS[@]}" --out "$out" "$@"
}

case $case_ in
setup)
  rm -rf "$W"; mkdir -p "$W"
  "$T" simulate --out "$C" --samples 7 --coverage 12 --length 60000 --populations 2 --fst 0.1 --seed 11 >/dev/null
  test -s "$C/truth.vcf.gz" || fail "simulate wrote no truth"
  ;;
cleanup)
  rm -rf "$W"
  ;;
run)
  np=$3
  out=$W/run_np$np
  rm -rf "$out"
  run_np "$np" "$out" > "$W/run_np$np.log"
  grep -q "sites ->" "$W/run_np$np.log" || fail "no summary line: $(cat "$W/run_np$np.log")"
  for f in cohort.bcf cohort.bcf.csi cohort.h5 stats.tsv summary.json journal.tsv; do
    test -s "$out/$f" || fail "np=$np: $f missing"
  done
  n=$(records "$out/cohort.bcf" | wc -l)
  [ "$n" -gt 10 ] || fail "np=$np: only $n sites called"
  grep -q call_genotype <(h5dump -H "$out/cohort.h5") || fail "cohort.h5 has no call_genotype"
  # cohort.h5 is a collective stage after the task graph, journaled under its own key; verify checks it.
  grep -q "^D	cohort_h5	1	cohort.h5	" "$out/journal.tsv" || fail "np=$np: no cohort_h5 record in the journal"
  "$T" verify "$out" >/dev/null || fail "np=$np: tessera verify fails"
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); s = d["statistics"]
assert s["sites"] == d["sites"] and s["snv_sites"] > 0 and d["provenance"]["command_line"], s
q = d["alignment_qc"]; assert len(q) == d["samples"], q
assert all(v["mapped_pct"] > 99 and v["properly_paired_pct"] > 95 for v in q.values()), q' "$out/summary.json" \
    || fail "summary.json lacks the cohort statistics, provenance or a sound alignment QC"
  if [ "$np" != 1 ]; then
    cmp <(records "$W/run_np1/cohort.bcf") <(records "$out/cohort.bcf") || fail "np=$np records differ from np=1"
    cmp "$W/run_np1/cohort.bcf" "$out/cohort.bcf" || fail "np=$np cohort.bcf bytes differ from np=1"
    cmp "$W/run_np1/stats.tsv" "$out/stats.tsv" || fail "np=$np stats.tsv differs from np=1"
    # Every cohort.h5 dataset holds the same values (the file's bytes may differ with chunk allocation order).
    h5ls "$W/run_np1/cohort.h5" | awk '{print $1}' > "$W/h5sets_np1"
    h5ls "$out/cohort.h5" | awk '{print $1}' > "$W/h5sets_np$np"
    cmp "$W/h5sets_np1" "$W/h5sets_np$np" || fail "np=$np cohort.h5 holds other datasets than at np=1"
    [ "$(wc -l < "$W/h5sets_np1")" -ge 43 ] || fail "cohort.h5 holds only $(wc -l < "$W/h5sets_np1") datasets"
    while read -r d; do
      cmp <(h5dump -d "/$d" "$W/run_np1/cohort.h5" | tail -n +2) <(h5dump -d "/$d" "$out/cohort.h5" | tail -n +2) \
        >/dev/null || fail "np=$np cohort.h5 dataset $d differs from np=1"
    done < "$W/h5sets_np1"
    rm -f "$W/h5sets_np$np"
  fi
  echo "np=$np: $n sites, identical to 1 rank"
  ;;
bam_input)
  # Aligned BAM inputs skip the align stage and are read region by region through their index.
  B=$W/bamcohort; rm -rf "$B" "$W/bamrun"
  "$T" simulate --out "$B" --samples 5 --coverage 15 --length 40000 --seed 5 --bam >/dev/null
  head -1 "$B/samples.tsv" | grep bam > /dev/null || fail "simulate --bam wrote no bam sheet"
  run_np 2 "$W/bamrun" --ref "$B/ref.fa" --samples "$B/samples.tsv" > "$W/bamrun.log"
  ! grep -q '^[0-9]*	0	align/' "$W/bamrun/tasks.tsv" || fail "align tasks planned for BAM inputs"
  [ ! -d "$W/bamrun/aln" ] || fail "aln/ written for BAM inputs"
  read -r tp fp fn prec rec < <("$SRC/deploy/score.sh" "$B/ref.fa" "$B/truth.vcf.gz" "$W/bamrun/cohort.bcf")
  echo "BAM input: tp=$tp fp=$fp fn=$fn precision=$prec recall=$rec"
  awk -v p="$prec" -v r="$rec" 'BEGIN { exit !(p >= 0.85 && r >= 0.80) }' || fail "BAM input: precision $prec / recall $rec"
  ;;
threads)
  # The same answer at 1 and 2 threads per rank (and against the default-threads 1-rank run).
  for t in 1 2; do
    rm -rf "$W/threads$t"
    run_np 1 "$W/threads$t" --threads "$t" >/dev/null
    cmp "$W/run_np1/cohort.bcf" "$W/threads$t/cohort.bcf" || fail "--threads $t cohort.bcf differs"
  done
  ;;
accuracy)
  read -r tp fp fn prec rec < <("$SRC/deploy/score.sh" "$C/ref.fa" "$C/truth.vcf.gz" "$W/run_np1/cohort.bcf")
  echo "tp=$tp fp=$fp fn=$fn precision=$prec recall=$rec"
  awk -v p="$prec" -v r="$rec" 'BEGIN { exit !(p >= 0.85 && r >= 0.80) }' || fail "precision $prec / recall $rec below 0.85 / 0.80"
  ;;
resume_kill9)
  ref=$W/ref_uninterrupted
  [ -s "$W/run_np1/cohort.bcf" ] && ref=$W/run_np1 || { rm -rf "$ref"; run_np 1 "$ref" >/dev/null; }
  out=$W/kill9; rm -rf "$out"
  # Run in its own session; kill -9 all of it once the journal holds a few records.
  setsid "$MPI" --oversubscribe -n 2 "$T" run "${RUNOPTS[@]}" --out "$out" --threads 1 >/dev/null 2>&1 &
  pid=$!
  wait_journal "$out" 3 "$pid"
  # Open MPI puts each rank in its own process group: kill every process of the session.
  kill -9 $(ps -o pid= -s "$pid") 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do [ -z "$(ps -o pid= -s "$pid")" ] && break; sleep 0.05; done
  # task records only: the input manifest (audit_inputs) is journaled before any task and is not one
  done_before=$(grep '^D' "$out/journal.tsv" | grep -vc $'^D\taudit_inputs\t' || true)
  total=$(wc -l < "$out/tasks.tsv" 2>/dev/null || echo 0)
  echo "killed with $done_before journaled tasks"
  [ "$done_before" -ge 1 ] || fail "nothing was journaled before the kill"
  echo partial > "$out/.tmp.cohort.bcf.99999" # what a run killed while writing leaves behind
  run_np 2 "$out" > "$W/kill9.log"
  left=$(find "$out" -name '.tmp.*' | wc -l)
  [ "$left" -eq 0 ] || fail "$left temporary files left after the resumed run: $(find "$out" -name '.tmp.*')"
  skipped=$(sed -n 's/.*"tasks_skipped_from_journal": \([0-9]*\).*/\1/p' "$out/summary.json")
  executed=$(sed -n 's/.*"tasks_executed": \([0-9]*\).*/\1/p' "$out/summary.json")
  echo "rerun: skipped $skipped, executed $executed of $total"
  [ "$skipped" -ge "$done_before" ] || fail "rerun redid journaled tasks (skipped $skipped < $done_before)"
  [ $((skipped + executed)) -eq "$(wc -l < "$out/tasks.tsv")" ] || fail "skipped + executed != total"
  cmp <(records "$ref/cohort.bcf") <(records "$out/cohort.bcf") || fail "resumed run differs from an uninterrupted one"
  cmp "$ref/cohort.bcf" "$out/cohort.bcf" || fail "resumed cohort.bcf bytes differ"
  ;;
interrupt_sigterm)
  out=$W/sigterm; rm -rf "$out"
  "$MPI" --oversubscribe -n 2 "$T" run "${RUNOPTS[@]}" --out "$out" --threads 1 --grace 30 >/dev/null 2>"$W/sigterm.err" &
  pid=$!
  wait_journal "$out" 2 "$pid"
  # Slurm signals the ranks themselves; mpirun would treat a SIGTERM of its own as "abort the job".
  pkill -TERM -P "$pid" 2>/dev/null || true
  rc=0; wait "$pid" || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "run finished before the signal arrived; nothing to check for the interruption"
  else
    [ "$rc" -eq 75 ] || fail "expected exit code 75 after SIGTERM, got $rc: $(tail -3 "$W/sigterm.err")"
    grep -q "rerun the same command to resume" "$W/sigterm.err" || fail "no resume hint: $(cat "$W/sigterm.err")"
  fi
  run_np 2 "$out" >/dev/null || fail "resume after SIGTERM failed"
  cmp "$W/run_np1/cohort.bcf" "$out/cohort.bcf" || fail "resumed cohort.bcf differs from an uninterrupted run"
  ;;
interrupt_usr1)
  # SIGUSR1 to mpirun is forwarded to every rank (the sbatch --signal=B:USR1 path).
  out=$W/usr1; rm -rf "$out"
  "$MPI" --oversubscribe -n 2 "$T" run "${RUNOPTS[@]}" --out "$out" --threads 1 >/dev/null 2>"$W/usr1.err" &
  pid=$!
  wait_journal "$out" 2 "$pid"
  kill -USR1 "$pid" 2>/dev/null || true
  rc=0; wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 75 ] || fail "expected exit code 75 after SIGUSR1, got $rc: $(tail -3 "$W/usr1.err")"
  grep -q "left" <<<"$("$T" inspect "$out")" || fail "inspect cannot read the interrupted run"
  run_np 1 "$out" >/dev/null || fail "resume after SIGUSR1 failed"
  cmp "$W/run_np1/cohort.bcf" "$out/cohort.bcf" || fail "resumed cohort.bcf differs from an uninterrupted run"
  ;;
bad_input)
  out=$W/bad; rm -rf "$out" "$W/bad.tsv"
  printf 'sample\tpopulation\tfastq1\tfastq2\nA\tp\t%s\t%s\nB\tp\tmissing_1.fq.gz\tmissing_2.fq.gz\n' \
    "$C/reads/S0001_1.fastq.gz" "$C/reads/S0001_2.fastq.gz" > "$W/bad.tsv"
  rc=0; "$MPI" -n 1 "$T" run --ref "$C/ref.fa" --samples "$W/bad.tsv" --out "$out" 2>"$W/bad.err" >/dev/null || rc=$?
  rm -f "$W/bad.tsv"
  [ "$rc" -eq 1 ] || fail "bad sheet: exit code $rc, expected 1"
  grep -q "bad.tsv" "$W/bad.err" && grep -q "line 3" "$W/bad.err" && grep -q "missing_1.fq.gz" "$W/bad.err" \
    || fail "error line does not name file, line and path: $(cat "$W/bad.err")"
  [ ! -e "$out/cohort.bcf" ] || fail "a cohort.bcf appeared after bad input"
  rc=0; "$T" run --ref "$C/ref.fa" --out "$out" 2>/dev/null || rc=$?
  [ "$rc" -eq 2 ] || fail "missing --samples: exit $rc, expected 2"
  ;;
refuse_dir)
  out=$W/notempty; rm -rf "$out"; mkdir -p "$out"; echo keep > "$out/precious.txt"
  rc=0; "$MPI" -n 1 "$T" run "${RUNOPTS[@]}" --out "$out" 2>"$W/refuse.err" >/dev/null || rc=$?
  [ "$rc" -eq 1 ] || fail "non-empty --out accepted (exit $rc)"
  grep -q "not empty" "$W/refuse.err" || fail "no clear message: $(cat "$W/refuse.err")"
  [ "$(cat "$out/precious.txt")" = keep ] || fail "precious file changed"
  # A journal of another run (other options) is refused and its outputs stay as they were.
  out2=$W/other; rm -rf "$out2"
  run_np 1 "$out2" >/dev/null
  sum=$(md5sum < "$out2/cohort.bcf")
  rc=0; "$MPI" -n 1 "$T" run "${RUNOPTS[@]}" --min-qual 50 --out "$out2" 2>"$W/refuse2.err" >/dev/null || rc=$?
  [ "$rc" -eq 1 ] || fail "journal of another run accepted (exit $rc)"
  grep -q "another run" "$W/refuse2.err" || fail "no clear message: $(cat "$W/refuse2.err")"
  [ "$(md5sum < "$out2/cohort.bcf")" = "$sum" ] || fail "earlier cohort.bcf was overwritten"
  ;;
inspect)
  "$T" inspect "$W/run_np1" > "$W/inspect.txt"
  grep -Eq "done [0-9]+ left 0" "$W/inspect.txt" || fail "inspect does not show a finished run: $(cat "$W/inspect.txt")"
  grep -q Usage <<<"$("$T" inspect --help)" || fail "inspect --help"
  grep -q -- "--samples" <<<"$("$T" run --help)" || fail "run --help"
  # Per-stage figures (summary.json "stages", issue 22): the deep stages present, tasks adding up to the
  # executed tasks, CPU and wall >= 0 with a positive peak RSS wherever a stage ran, the stages' CPU within
  # the run's total, one value per rank, and the same stages in tessera inspect's table.
  sj="$W/run_np1/summary.json"
  for st in setup align call joint cohort cohort_h5; do
    grep -q "{\"stage\": \"$st\", " "$sj" || fail "summary.json has no stage '$st': $(grep -A9 '"stages"' "$sj")"
    grep -Eq "^  $st +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$" "$W/inspect.txt" || fail "inspect shows no figures for '$st'"
  done
  awk -v ranks="$(sed -n 's/^  "ranks": \([0-9]*\),$/\1/p' "$sj")" \
      -v total="$(sed -n 's/^  "cpu_seconds": \([0-9.]*\),$/\1/p' "$sj")" \
      -v executed="$(sed -n 's/^  "tasks_executed": \([0-9]*\),$/\1/p' "$sj")" '
    function field(k,   m) { return match($0, "\"" k "\": [-0-9.]+") ? substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 4) + 0 : -1 }
    function count(k,   m, a) { if (!match($0, "\"" k "\": \\[[^]]*\\]")) return -1; return split(substr($0, RSTART, RLENGTH), a, ",") }
    /^    \{"stage": / {
      n++; name = $2; cpu = field("cpu_seconds"); wall = field("wall_seconds"); rss = field("peak_rss_bytes_max_rank")
      t = field("tasks")
      if (cpu < 0 || wall < 0 || t < 1 || rss <= 0) { print "bad figures: " $0; bad = 1 }
      if (count("cpu_seconds_by_rank") != ranks || count("peak_rss_bytes_by_rank") != ranks) { print "not one value per rank: " $0; bad = 1 }
      sum += cpu
      if (name !~ /setup|cohort_h5/) tasks += t
    }
    END {
      if (n < 6) { print "only " n " stages"; bad = 1 }
      if (sum > total + 0.05) { printf "stages CPU %.3f > the run total %.3f\n", sum, total; bad = 1 }
      if (tasks != executed) { printf "stage tasks %d != tasks_executed %d\n", tasks, executed; bad = 1 }
      exit bad
    }' "$sj" || fail "summary.json stage figures are not sane"
  ;;
*) fail "unknown case $case_" ;;
esac
