#!/bin/bash
# tessera add (N+1): a low-pass run on 16 samples plus an add of 8 more must
# give the same cohort.bcf, stats.tsv and cohort.h5 datasets as a run from
# scratch on all 24 (1 and 2 ranks), without reading the first 16 BAMs again
# (they are moved away before the add) and without re-running their evidence
# tasks (one journal record per old key). Also: call_DS/call_GP in cohort.h5,
# a colliding sample id refused, a deep-mode run refused.
set -euo pipefail
T=${TSR_TESSERA:?}
MPIEXEC=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_lpadd.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
RUN=(--mode lowpass --batch-size 6 --threads 2 --shard-size 50000 --log-level warn)

"$T" simulate --out "$W/sim" --samples 24 --coverage 1 --length 100000 --bam --populations 2 --fst 0.05 \
    --threads 2 --seed 11 > /dev/null
S="$W/sim/samples.tsv"
# absolute BAM paths in the sub-sheets (paths are relative to each sheet)
awk -v d="$W/sim" 'BEGIN { FS = OFS = "\t" } NR == 1 { for (i = 1; i <= NF; i++) if ($i == "bam") c = i; print; next }
                   { if ($c !~ /^\//) $c = d "/" $c; print }' "$S" > "$W/all.tsv"
head -n 17 "$W/all.tsv" > "$W/first.tsv"
{ head -n 1 "$W/all.tsv"; tail -n +18 "$W/all.tsv"; } > "$W/new.tsv"
[ "$(tail -n +2 "$W/new.tsv" | wc -l)" -eq 8 ] || fail "test setup: expected 8 new samples"

"$T" run --ref "$W/sim/ref.fa" --samples "$W/first.tsv" --out "$W/inc" "${RUN[@]}" > /dev/null
[ -s "$W/inc/run.tsv" ] && [ -s "$W/inc/samples.d/0000.tsv" ] || fail "run did not record run.tsv/samples.d"

# move the first 16 samples' BAMs away: the add must not open them
mkdir "$W/moved"
col=$(head -n 1 "$W/all.tsv" | tr '\t' '\n' | grep -n '^bam$' | cut -d: -f1)
tail -n +2 "$W/first.tsv" | cut -f"$col" | while read -r b; do mv "$b" "$b".* "$W/moved/" 2>/dev/null || mv "$b" "$W/moved/"; done

"$T" add --out "$W/inc" --samples "$W/new.tsv" --threads 2 --log-level warn > "$W/add.log" 2>&1 \
    || { cat "$W/add.log"; fail "tessera add"; }
# every key journaled once: no evidence task of the first 16 ran again
# journal records: D<TAB>key<TAB>... per completed task
dups=$(awk -F'\t' '$1 == "D" && $2 ~ /^call\// { print $2 }' "$W/inc/journal.tsv" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups evidence tasks were journaled twice"
awk -F'\t' '$1 == "D" { print $2 }' "$W/inc/journal.tsv" | grep '^call/.*/p0001_b00000$' > /dev/null || fail "no evidence task for the added part"
[ -s "$W/inc/samples.d/0001.tsv" ] || fail "no samples.d/0001.tsv"

# a second add of the same sheet resumes: nothing runs
"$T" add --out "$W/inc" --samples "$W/new.tsv" --threads 2 --log-level warn > "$W/add2.log" 2>&1 \
    || { cat "$W/add2.log"; fail "tessera add again"; }
grep -q ", 0 executed)" "$W/add2.log" || { cat "$W/add2.log"; fail "the same add ran tasks again"; }
bamdir=$(dirname "$(sed -n 2p "$W/first.tsv" | cut -f"$col")")
mv "$W/moved/"* "$bamdir/"

# an id already in the cohort: one clear line
{ head -n 1 "$W/all.tsv"; sed -n 2p "$W/all.tsv"; } > "$W/dup.tsv"
if "$T" add --out "$W/inc" --samples "$W/dup.tsv" 2> "$W/dup.err"; then fail "a colliding sample id was accepted"; fi
grep -q "already in the cohort" "$W/dup.err" || { cat "$W/dup.err"; fail "collision message"; }
[ "$(wc -l < "$W/dup.err")" -eq 1 ] || { cat "$W/dup.err"; fail "more than one error line"; }

compare() { # DIR_A DIR_B: cohort.bcf records and header, stats.tsv, cohort.h5 datasets
    cmp "$1/cohort.bcf" "$2/cohort.bcf" || fail "cohort.bcf differs: $1 vs $2"
    cmp "$1/stats.tsv" "$2/stats.tsv" || fail "stats.tsv differs: $1 vs $2"
    h5diff "$1/cohort.h5" "$2/cohort.h5" > /dev/null || fail "cohort.h5 datasets differ: $1 vs $2"
}
"$T" run --ref "$W/sim/ref.fa" --samples "$W/all.tsv" --out "$W/full1" "${RUN[@]}" > /dev/null
compare "$W/inc" "$W/full1"
"$MPIEXEC" --oversubscribe -n 2 "$T" run --ref "$W/sim/ref.fa" --samples "$W/all.tsv" --out "$W/full2" \
    --mode lowpass --batch-size 6 --threads 1 --shard-size 50000 --log-level warn > /dev/null
compare "$W/inc" "$W/full2"

# cohort.h5 carries call_DS (V x S) and call_GP (V x S x G, G = A(A+1)/2) in low-pass mode
H="$W/inc/cohort.h5"
# h5ls prints extendable axes as N/Inf
V=$(h5ls "$H/variant_position" | sed -n 's/.*{\([0-9]*\)[/A-Za-z]*}.*/\1/p')
A=$(h5ls "$H/variant_allele" | sed -n 's/.*{[0-9/A-Za-z]*, \([0-9]*\)[/A-Za-z]*}.*/\1/p')
[ "${V:-0}" -gt 0 ] || fail "no variants in cohort.h5"
h5ls "$H/call_DS" | grep "{$V/Inf, 24}" > /dev/null || fail "call_DS is not $V x 24"
G=$(( A * (A + 1) / 2 ))
h5ls "$H/call_GP" | grep "{$V/Inf, 24, $G/Inf}" > /dev/null || fail "call_GP is not $V x 24 x $G"
# every DS in [0, 2]; on biallelic rows GP sums to 1 and GP[1] + 2 GP[2] = DS
h5dump -d call_DS -y -w 0 -o "$W/ds.txt" "$H" > /dev/null
h5dump -d call_GP -y -w 0 -o "$W/gp.txt" "$H" > /dev/null
h5dump -d variant_allele -y -w 0 -o "$W/al.txt" "$H" > /dev/null
awk -v V="$V" -v S=24 -v G="$G" -v A="$A" '
    FNR == 1 { f++ }
    { gsub(/[ ,]+/, " "); n = split($0, x, " ") }
    f == 1 { for (i = 1; i <= n; i++) ds[nd++] = x[i] }
    f == 2 { for (i = 1; i <= n; i++) gp[ng++] = x[i] }
    f == 3 { for (i = 1; i <= n; i++) al[na++] = x[i] }
    END {
        if (nd != V * S || ng != V * S * G) { print "sizes " nd " " ng; exit 1 }
        for (v = 0; v < V; v++) {
            bi = A == 2 || al[v * A + 2] == "\"\""
            for (j = 0; j < S; j++) {
                d = ds[v * S + j]
                if (!(d >= 0 && d <= 2.0001)) { print "DS " d; exit 1 }
                if (!bi) continue
                o = (v * S + j) * G
                s = gp[o] + gp[o + 1] + gp[o + 2]
                e = gp[o + 1] + 2 * gp[o + 2] - d
                if (s < 0.999 || s > 1.001 || e > 0.001 || e < -0.001) { print "GP " s " " e; exit 1 }
                checked++
            }
        }
        if (!checked) { print "no biallelic rows"; exit 1 }
        print "call_DS/call_GP: " V " variants, " checked " biallelic calls checked"
    }' "$W/ds.txt" "$W/gp.txt" "$W/al.txt" || fail "call_DS/call_GP values"

# deep-mode runs are refused
"$T" simulate --out "$W/deep" --samples 2 --coverage 8 --length 5000 --bam --seed 2 > /dev/null
"$T" run --ref "$W/deep/ref.fa" --samples "$W/deep/samples.tsv" --out "$W/d" --mode deep --threads 2 \
    --log-level warn > /dev/null
if "$T" add --out "$W/d" --samples "$W/deep/samples.tsv" 2> "$W/d.err"; then fail "add accepted a deep run"; fi
grep -q "deep-mode run" "$W/d.err" || { cat "$W/d.err"; fail "deep refusal message"; }
echo "add_test: ok"
