#!/usr/bin/env bash
# audit.sh CASE: the audit chain (issue 20). Each case makes a small finished run (2 ranks), notes the head
# `tessera run` printed, then:
#   untouched       verify --expect HEAD exits 0; a wrong --expect exits 1 naming both heads
#   forged_crc      a byte of stats.tsv changed, its CRC32 and the line's CRC32 fixed in the journal
#                   (what fooled the CRC-only journal): exit 1, stats.tsv named
#   forged_sha      the same edit with the record's SHA-256 forged too: exit 1, the broken link named
#   removed_record  the cohort record deleted: exit 1, the task without a record and the link named
#   swapped         two task records swapped: exit 1, the broken link named
#   truncated       the journal cut mid-line: exit 1, the unfinished line, tasks without records, no head
#   changed_output  one byte of cohort.bcf changed: exit 1, cohort.bcf named
#   replaced_input  the reference replaced by a copy with one base changed: exit 1, the input named
#   signature       --sign-key; verify --pubkey with the right key exits 0, with another key exits 1
#   ranks           the head is the same at 1, 2 and 3 ranks
#   kill            kill -9 of the whole run while the journal is incomplete, resume: the same head
#   add             tessera add (low-pass, --hash-inputs): a new head that verifies, the new BAMs hashed, the
#                   first run's head no longer expected
#   export          export --aggregate-only carries the source head and its own content hash; refused
#                   from a directory whose cohort.bcf no longer matches its journal
# Needs $TSR_TESSERA and $TSR_MPIEXEC (CTest).
set -euo pipefail
CASE=$1
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_audit.XXXXXX)
trap '[ -n "${TSR_AUDIT_KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

"$T" simulate --out "$W/c" --samples 4 --coverage 6 --length 30000 --populations 2 --seed 5 >/dev/null
OPTS=(--ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --shard-size 5000 --batch-size 2 --threads 1 --log-level error)
run() { # run NP OUT [options...]: prints the head
  local np=$1 out=$2; shift 2
  "$MPI" --oversubscribe -n "$np" "$T" run "${OPTS[@]}" "$@" --out "$out" > "$W/run.log" \
    || fail "run at $np ranks failed"
  local h; h=$(sed -n 's/^tessera run: audit \(sha256:[0-9a-f]\{64\}\)$/\1/p' "$W/run.log")
  [ -n "$h" ] || fail "no 'tessera run: audit sha256:<hex>' line: $(cat "$W/run.log")"
  grep -q "\"audit_head\": \"$h\"" "$out/summary.json" || fail "summary.json's audit_head is not $h"
  echo "$h"
}
# expect_bad DIR PATTERN...: verify --expect HEAD exits 1 and names every pattern
expect_bad() {
  local dir=$1; shift
  rc=0; "$T" verify "$dir" --expect "$HEAD" > "$W/v.out" 2> "$W/v.err" || rc=$?
  [ "$rc" = 1 ] || fail "verify exited $rc, not 1: $(cat "$W/v.err")"
  for p in "$@"; do grep -q -- "$p" "$W/v.err" || fail "verify did not say '$p': $(cat "$W/v.err")"; done
  grep -q ', 0 bad' "$W/v.out" && fail "verify counted 0 bad"
  return 0
}
# rewrite_line FILE N PYTHON-EXPR: replace line N's fields (list f, checksum excluded) and fix its CRC32
fix_line() {
  python3 - "$@" <<'EOF'
import sys, zlib
path, n, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(path, 'rb').read().decode().split('\n')
f = lines[n - 1].split('\t')[:-1]
exec(expr)
body = '\t'.join(f)
lines[n - 1] = body + '\t%08x' % zlib.crc32(body.encode())
open(path, 'wb').write('\n'.join(lines).encode())
EOF
}

D=$W/run
case $CASE in
untouched)
  HEAD=$(run 2 "$D")
  "$T" verify "$D" --expect "$HEAD" > "$W/v.out" 2> "$W/v.err" || fail "an untouched directory fails: $(cat "$W/v.err")"
  grep -q ', 0 bad' "$W/v.out" || fail "verify did not report 0 bad"
  [ ! -s "$W/v.err" ] || fail "verify printed problems: $(cat "$W/v.err")"
  # the same command again: nothing runs, the head is the same and is not journaled twice
  [ "$(run 2 "$D")" = "$HEAD" ] || fail "a rerun of a finished run prints another head"
  [ "$(grep -c '^H' "$D/journal.tsv")" = 1 ] || fail "the head was journaled twice"
  other=sha256:$(printf '0%.0s' $(seq 64))
  rc=0; "$T" verify "$D" --expect "$other" > /dev/null 2> "$W/v.err" || rc=$?
  [ "$rc" = 1 ] && grep -q "not the expected $other" "$W/v.err" || fail "a wrong --expect is not refused"
  ;;
forged_crc|forged_sha)
  HEAD=$(run 2 "$D")
  n=$(grep -n $'^D\tcohort\t' "$D/journal.tsv" | cut -d: -f1)
  [ -n "$n" ] || fail "no cohort record"
  sed -i '2s/./X/' "$D/stats.tsv"   # one byte of the first data line
  crc=$(python3 -c 'import sys,zlib; print("%08x" % zlib.crc32(open(sys.argv[1],"rb").read()))' "$D/stats.tsv")
  sha=$(sha256sum "$D/stats.tsv" | cut -c1-64)
  i=$(awk -F'\t' -v n="$n" 'NR==n { for (k = 4; k <= NF; k += 3) if ($k == "stats.tsv") print k - 1 }' "$D/journal.tsv")
  if [ "$CASE" = forged_crc ]; then
    fix_line "$D/journal.tsv" "$n" "f[$i + 1] = '$crc'"
    expect_bad "$D" "stats.tsv changed after task 'cohort'"
  else
    fix_line "$D/journal.tsv" "$n" "f[$i + 1] = '$crc'; f[$i + 2] = 'sha256:$sha'"
    expect_bad "$D" "line $((n + 1)) does not chain to line $n" "head of $D is"
  fi
  ;;
removed_record)
  HEAD=$(run 2 "$D")
  n=$(grep -n $'^D\tcohort\t' "$D/journal.tsv" | cut -d: -f1)
  sed -i "${n}d" "$D/journal.tsv"
  expect_bad "$D" "task 'cohort' (tasks.tsv) has no valid record" "line $n does not chain"
  ;;
swapped)
  HEAD=$(run 2 "$D")
  awk 'NR == 4 { keep = $0; next } NR == 5 { print; print keep; next } { print }' "$D/journal.tsv" > "$W/j"
  cat "$W/j" > "$D/journal.tsv"
  expect_bad "$D" "line 4 does not chain to line 3" "line 5 does not chain to line 4"
  ;;
truncated)
  HEAD=$(run 2 "$D")
  size=$(stat -c %s "$D/journal.tsv")
  truncate -s $((size * 2 / 3)) "$D/journal.tsv"
  expect_bad "$D" "is unfinished" "has no valid record" "has no audit head record" "head of $D is"
  ;;
changed_output)
  HEAD=$(run 2 "$D")
  size=$(stat -c %s "$D/cohort.bcf")
  printf '\x5a' | dd of="$D/cohort.bcf" bs=1 seek=$((size / 2)) conv=notrunc status=none
  expect_bad "$D" "cohort.bcf changed after task 'cohort'"
  ;;
replaced_input)
  HEAD=$(run 2 "$D")
  # the same length and .fai, one base changed: what a swapped reference looks like to the fingerprint
  awk 'NR == 2 { c = substr($0, 10, 1); $0 = substr($0, 1, 9) (c == "A" ? "C" : "A") substr($0, 11) } { print }' \
    "$W/c/ref.fa" > "$W/ref2.fa"
  mv "$W/ref2.fa" "$W/c/ref.fa"
  expect_bad "$D" "input $(realpath "$W/c/ref.fa") changed since the run hashed it"
  # and a resume with the replaced reference is refused instead of mixing outputs of both
  rc=0; "$MPI" --oversubscribe -n 2 "$T" run "${OPTS[@]}" --out "$D" > /dev/null 2> "$W/rerun.err" || rc=$?
  [ "$rc" != 0 ] && grep -q "changed since this run began" "$W/rerun.err" || fail "a rerun on a changed reference was not refused"
  ;;
signature)
  "$T" keygen "$W/k1" > /dev/null || fail "keygen failed"
  "$T" keygen "$W/k2" > /dev/null || fail "keygen failed"
  [ "$(stat -c %a "$W/k1")" = 600 ] || fail "the private key is not owner-only"
  ! "$T" keygen "$W/k1" > /dev/null 2>&1 || fail "keygen overwrote a key"
  HEAD=$(run 2 "$D" --sign-key "$W/k1")
  [ -s "$D/audit.sig" ] || fail "no audit.sig"
  "$T" verify "$D" --expect "$HEAD" --pubkey "$W/k1.pub" > /dev/null 2> "$W/v.err" \
    || fail "the right public key fails: $(cat "$W/v.err")"
  rc=0; "$T" verify "$D" --pubkey "$W/k2.pub" > /dev/null 2> "$W/v.err" || rc=$?
  [ "$rc" = 1 ] && grep -q "does not verify with the public key" "$W/v.err" || fail "a wrong public key is accepted"
  ;;
ranks)
  h1=$(run 1 "$W/np1"); h2=$(run 2 "$W/np2"); h3=$(run 3 "$W/np3")
  [ "$h1" = "$h2" ] && [ "$h2" = "$h3" ] || fail "heads differ: np1 $h1, np2 $h2, np3 $h3"
  for np in 1 2 3; do "$T" verify "$W/np$np" --expect "$h1" > /dev/null || fail "np$np does not verify"; done
  ;;
kill)
  HEAD=$(run 2 "$W/ref")
  total=$(grep -c '^D' "$W/ref/journal.tsv")
  setsid "$MPI" --oversubscribe -n 2 "$T" run "${OPTS[@]}" --out "$D" > /dev/null 2>&1 &
  pid=$!
  # kill -9 the whole session once a few records are in, long before the last one
  for _ in $(seq 1 600); do
    [ "$(grep -c '^D' "$D/journal.tsv" 2>/dev/null || true)" -ge 4 ] && break
    sleep 0.01
  done
  kill -9 $(ps -o pid= -s "$pid") 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do [ -z "$(ps -o pid= -s "$pid")" ] && break; sleep 0.05; done
  done_before=$(grep -c '^D' "$D/journal.tsv" || true)
  ! grep -q '^H' "$D/journal.tsv" || fail "the run finished before the kill: nothing was interrupted"
  [ "$done_before" -lt "$total" ] || fail "the journal was complete before the resume ($done_before records)"
  echo "killed with $done_before of $total records"
  h=$(run 2 "$D")
  [ "$h" = "$HEAD" ] || fail "after kill -9 and resume the head is $h, uninterrupted $HEAD"
  "$T" verify "$D" --expect "$HEAD" > /dev/null 2> "$W/v.err" || fail "the resumed run does not verify: $(cat "$W/v.err")"
  ;;
add)
  "$T" simulate --out "$W/lp" --samples 8 --coverage 1 --length 50000 --bam --populations 2 --seed 3 > /dev/null
  awk -v d="$W/lp" 'BEGIN { FS = OFS = "\t" } NR == 1 { for (i = 1; i <= NF; i++) if ($i == "bam") c = i; print; next }
                    { if ($c !~ /^\//) $c = d "/" $c; print }' "$W/lp/samples.tsv" > "$W/all.tsv"
  head -n 6 "$W/all.tsv" > "$W/first.tsv"
  { head -n 1 "$W/all.tsv"; tail -n +7 "$W/all.tsv"; } > "$W/new.tsv"
  OPTS=(--ref "$W/lp/ref.fa" --samples "$W/first.tsv" --mode lowpass --batch-size 3 --shard-size 25000 --threads 1
        --log-level error)
  H1=$(run 2 "$D" --hash-inputs)
  "$MPI" --oversubscribe -n 2 "$T" add --out "$D" --samples "$W/new.tsv" --threads 1 --log-level error > "$W/add.log" \
    || fail "tessera add failed"
  H2=$(sed -n 's/^tessera add: audit \(sha256:[0-9a-f]\{64\}\)$/\1/p' "$W/add.log")
  [ -n "$H2" ] && [ "$H2" != "$H1" ] || fail "tessera add printed no new head: $(cat "$W/add.log")"
  new_bam=$(tail -n 1 "$W/new.tsv" | cut -f"$(head -n 1 "$W/all.tsv" | tr '\t' '\n' | grep -n '^bam$' | cut -d: -f1)")
  grep -q "  $(realpath "$new_bam")\$" "$D/audit_inputs.sha256" || fail "the added sample's BAM was not hashed"
  [ "$(grep -c "  $(realpath "$W/lp/ref.fa")\$" "$D/audit_inputs.sha256")" = 1 ] || fail "the reference is listed twice"
  "$T" verify "$D" --expect "$H2" > /dev/null 2> "$W/v.err" || fail "after tessera add: $(cat "$W/v.err")"
  HEAD=$H1
  expect_bad "$D" "not the expected $H1"
  ;;
export)
  HEAD=$(run 2 "$D")
  "$T" export --aggregate-only --in "$D" --out "$W/sites.vcf.gz" > /dev/null || fail "export failed"
  grep -q "^##tessera_source_audit=$HEAD " <<<"$(bcftools view -h "$W/sites.vcf.gz")" || fail "no source head in the header"
  want=$(bcftools view -H "$W/sites.vcf.gz" | sha256sum | cut -c1-64)
  bcftools view -h "$W/sites.vcf.gz" | grep "^##tessera_content_sha256=sha256:$want " > /dev/null \
    || fail "the header's content hash is not that of the data lines ($want)"
  size=$(stat -c %s "$D/cohort.bcf")
  printf '\x5a' | dd of="$D/cohort.bcf" bs=1 seek=$((size / 2)) conv=notrunc status=none
  rc=0; "$T" export --aggregate-only --in "$D" --out "$W/s2.vcf.gz" > /dev/null 2> "$W/e.err" || rc=$?
  [ "$rc" = 1 ] && grep -q "is not the file its run journaled" "$W/e.err" || fail "export from a changed cohort.bcf"
  ;;
*) fail "unknown case" ;;
esac
echo "ok [$CASE]"
