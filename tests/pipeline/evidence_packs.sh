#!/usr/bin/env bash
# Evidence containers (issue 18, --evidence-layout packs, the default), end to end through `tessera run`:
# 6 FASTQ samples over 60 kb in 3 units x 3 batches (9 evidence partitions). Checks that
#   - at 2 ranks evidence/ holds no file per task: a folder per session (sSSSS/) holding at most one
#     container a rank (rRRRRR.pack), and the index, no unit directories; a run that wrote a file per
#     (unit, batch) fails here; after a resume, each session's containers are in their own folder;
#   - cohort.bcf, stats.tsv and the audit head are those of --evidence-layout files at 1 rank, and of packs
#     at 3 ranks;
#   - a container whose tail is cut (a rank killed mid-append, a damaged disk) makes exactly the tasks whose
#     ranges it lost run again, in a new session's containers, and the outputs stay identical;
#   - `tessera verify` re-reads every packed partition by its range: a changed byte is reported;
#   - `tessera export --gvcf` reads packed partitions: the same records as from the files layout, also when
#     the index lists a unit's partitions apart (the exports read it a folder at a time).
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_evpacks.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "evidence_packs: $*" >&2; exit 1; }
"$T" simulate --out "$W/sim" --samples 6 --coverage 8 --length 60000 --seed 3 > /dev/null

run() { # run NAME NP LAYOUT
  "$MPI" --oversubscribe -n "$2" "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/$1" \
    --mode deep --threads 1 --shard-size 20000 --batch-size 2 --evidence-layout "$3" > "$W/$1.log" 2>&1 ||
    { cat "$W/$1.log" >&2; fail "run $1 failed"; }
}
head_of() { sed -n 's/^tessera run: audit \(sha256:[0-9a-f]*\).*/\1/p' "$W/$1.log"; }
same() { # same A B: cohort outputs and audit head equal
  cmp -s "$W/$1/cohort.bcf" "$W/$2/cohort.bcf" || fail "cohort.bcf differs between $1 and $2"
  cmp -s "$W/$1/stats.tsv" "$W/$2/stats.tsv" || fail "stats.tsv differs between $1 and $2"
  [ "$(head_of "$1")" = "$(head_of "$2")" ] || fail "audit heads differ between $1 and $2"
}
packs() { find "$W/$1/evidence" -type f -path '*/evidence/s[0-9][0-9][0-9][0-9]/r[0-9][0-9][0-9][0-9][0-9][0-9].pack' | wc -l; }
folders() { # folders NAME RANKS: evidence/ holds index.tsv and session folders, each <= RANKS containers
  local d n
  for d in "$W/$1"/evidence/*; do
    case "${d##*/}" in
      index.tsv) ;;
      s[0-9][0-9][0-9][0-9]) n=$(find "$d" -mindepth 1 | wc -l)
        [ "$n" -le "$2" ] || fail "$d holds $n entries at $2 ranks: $(ls "$d")" ;;
      *) fail "evidence/ of $1 holds '${d##*/}' (only index.tsv and session folders sSSSS/)" ;;
    esac
  done
}

run files1 1 files
run packs2 2 packs
run packs3 3 packs
nt=$(grep -c $'^D\tcall/' "$W/packs2/journal.tsv")
[ "$nt" -eq 9 ] || fail "expected 9 call tasks (3 units x 3 batches), the journal has $nt"
nf=$(find "$W/files1/evidence" -type f | wc -l)
[ "$nf" -eq 9 ] || fail "--evidence-layout files should write a file per task (9), found $nf"
# at most ranks x sessions containers, plus the index; nothing else, no unit directories
np=$(packs packs2)
nall=$(find "$W/packs2/evidence" -mindepth 1 | wc -l)
[ "$np" -ge 1 ] && [ "$np" -le 2 ] || fail "$np containers at 2 ranks in one session (expected 1..2)"
[ "$nall" -eq $((np + 2)) ] || fail "evidence/ holds $nall entries for $np containers: $(find "$W/packs2/evidence" -mindepth 1)"
folders packs2 2
[ -s "$W/packs2/evidence/index.tsv" ] || fail "no evidence/index.tsv"
[ "$(wc -l < "$W/packs2/evidence/index.tsv")" -eq 9 ] || fail "evidence/index.tsv should list the 9 partitions"
grep -q $'^D\tcall/.*\tevidence/g[0-9]*/.*\.h5 evidence/s0001/r00000[01]\.pack@[0-9]*+[0-9]*\t' \
  "$W/packs2/journal.tsv" || fail "the journal does not record partitions as NAME LOCATION"
[ "$(packs packs3)" -le 3 ] || fail "more containers than ranks at 3 ranks"
same files1 packs2
same files1 packs3

# a cut container: the tasks whose ranges it lost run again (new session), the rest is trusted
cp -a "$W/packs2" "$W/cut"
c=$(ls -S "$W/cut"/evidence/s*/r*.pack | head -1)
size=$(stat -c %s "$c")
truncate -s $((size / 2)) "$c"
lost=$(awk -F'\t' -v c="${c#"$W/cut/"}" '$1 == "D" && $2 ~ /^call\// { split($4, a, " "); split(a[2], l, "[@+]");
  if (l[1] == c && l[2] + l[3] > s) n++ } END { print n + 0 }' s=$((size / 2)) "$W/cut/journal.tsv")
[ "$lost" -ge 1 ] || fail "cutting $c to half lost no range"
"$MPI" --oversubscribe -n 2 "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/cut" \
  --mode deep --threads 1 --shard-size 20000 --batch-size 2 > "$W/cut.log" 2>&1 || { cat "$W/cut.log" >&2; fail "resume after the cut failed"; }
again=$(grep -c "shorter than evidence/.*running it again" "$W/cut.log" || true)
[ "$again" -eq "$lost" ] || fail "$lost call tasks lost their range, $again ran again"
[ "$(packs cut)" -le 4 ] || fail "$(packs cut) containers after 2 sessions at 2 ranks"
folders cut 2
ls "$W/cut"/evidence/s0002/r*.pack > /dev/null 2>&1 || fail "the resumed run did not append to a new session's container"
same files1 cut
"$T" verify "$W/cut" > "$W/cut.verify" 2>&1 || { cat "$W/cut.verify" >&2; fail "verify of the resumed run failed"; }

# verify re-reads every packed partition by its range
cp -a "$W/packs2" "$W/flip"
c=$(ls "$W/flip"/evidence/s*/r*.pack | head -1)
printf 'X' | dd of="$c" bs=1 seek=2000 conv=notrunc 2> /dev/null
if "$T" verify "$W/flip" > "$W/flip.verify" 2>&1; then fail "verify missed a changed byte in $c"; fi
grep -q "${c##*/}@0+[0-9]* changed after task 'call/" "$W/flip.verify" || { cat "$W/flip.verify" >&2; fail "verify did not name the changed partition"; }

# the gVCF export reads packed partitions
s=$(bcftools query -l "$W/sim/truth.vcf.gz" | head -1)
for d in files1 packs2; do "$T" export --gvcf "$s" --out "$W/$d" --ref "$W/sim/ref.fa" > /dev/null; done
cmp <(bcftools view -H "$W/files1/gvcf/$s.g.vcf.gz") <(bcftools view -H "$W/packs2/gvcf/$s.g.vcf.gz") ||
  fail "the gVCF from packed partitions differs"

# the exports read the index a folder at a time (io/partition_reader.c): an index whose units' lines are not
# consecutive (here in batch order, so each unit's lines are 3 runs) gives the same records
cp -a "$W/packs2" "$W/shuf"
rm -rf "$W/shuf/gvcf"
sort -t/ -k4,4 -k3,3 "$W/packs2/evidence/index.tsv" > "$W/shuf/evidence/index.tsv"
runs=$(awk -F'\t' '{ d = $1; sub(/[^\/]*$/, "", d) } d != p { n++; p = d } END { print n + 0 }' "$W/shuf/evidence/index.tsv")
[ "$runs" -gt 3 ] || fail "the reordered index still keeps each unit's lines together ($runs runs)"
"$T" export --gvcf "$s" --out "$W/shuf" --ref "$W/sim/ref.fa" > /dev/null
cmp <(bcftools view -H "$W/files1/gvcf/$s.g.vcf.gz") <(bcftools view -H "$W/shuf/gvcf/$s.g.vcf.gz") ||
  fail "the gVCF from an index in batch order differs"
echo "evidence_packs: 9 partitions in $np containers at 2 ranks; $lost cut ranges ran again; outputs identical"
