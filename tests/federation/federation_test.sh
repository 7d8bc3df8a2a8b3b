#!/usr/bin/env bash
# Federated statistics: `tessera export --aggregate-only --in DIR` of 3 institutions, `tessera merge`.
# Usage: federation_test.sh CASE WORKDIR. Needs $TSR_TESSERA and $TSR_MPIEXEC (CTest's environment),
# bcftools and python3.
set -euo pipefail
case_=$1 W=$2
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
C=$W/cohort
HERE=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

case $case_ in
setup)
  # 12 samples in 2 populations, split round-robin into 3 institutions of 4 (2 per population);
  # each institution runs alone and exports (--min-ac 0: every site of its call set).
  rm -rf "$W"; mkdir -p "$W/gvcf"
  "$T" simulate --out "$C" --samples 12 --coverage 8 --length 30000 --populations 2 --fst 0.1 --seed 5 >/dev/null
  for i in 1 2 3; do head -1 "$C/samples.tsv" > "$C/inst$i.tsv"; done
  tail -n +2 "$C/samples.tsv" | awk -v d="$C" '{ print >> (d "/inst" ((NR - 1) % 3 + 1) ".tsv") }'
  for i in 1 2 3; do
    "$MPI" --oversubscribe -n 1 "$T" run --ref "$C/ref.fa" --samples "$C/inst$i.tsv" --out "$W/run$i" \
      --shard-size 10000 --batch-size 3 --log-level warn > "$W/run$i.log" 2>&1 || fail "run $i: $(cat "$W/run$i.log")"
    "$T" export --aggregate-only --in "$W/run$i" --min-ac 0 --out "$W/inst$i.vcf.gz" > "$W/export$i.log" \
      || fail "export $i: $(cat "$W/export$i.log")"
    # each sample's callability, as the mask defines it: its gVCF records
    for s in $(tail -n +2 "$C/inst$i.tsv" | cut -f1); do
      "$T" export --gvcf "$s" --out "$W/run$i" --ref "$C/ref.fa" -o "$W/gvcf/$s.g.vcf.gz" > /dev/null
    done
  done
  ;;
cleanup)
  rm -rf "$W"
  ;;
export_format)
  grep -q -- 'callable.bed.gz' <<<"$("$T" export --help)" || fail "export --help does not describe the federated export"
  for i in 1 2 3; do
    E=$W/inst$i.vcf.gz
    test -s "$E.callable.bed.gz" && test -s "$E.csi" || fail "inst$i: no mask or index"
    h=$(bcftools view -h "$E")
    grep -q '^##contig=<ID=sim1,length=30000,md5=[0-9a-f]\{32\}>' <<< "$h" || fail "inst$i: contig line without md5"
    want=$(python3 -c "import hashlib,sys; s=''.join(l.strip() for l in open(sys.argv[1]) if not l.startswith('>')); print(hashlib.md5(s.upper().encode()).hexdigest())" "$C/ref.fa")
    grep -q "md5=$want" <<< "$h" || fail "inst$i: contig md5 is not the MD5 of the reference sequence ($want)"
    grep -q '^##tessera_federation=<ID=export,format=1,mode=deep,tessera=' <<< "$h" || fail "inst$i: no federation line"
    grep -q '^##tessera_population=<ID=pop1,samples=2>' <<< "$h" || fail "inst$i: population line"
    # the recorded hashes are those of the content
    got=$(bcftools view -H "$E" | sha256sum | cut -d' ' -f1)
    grep -q "^##tessera_content_sha256=sha256:$got " <<< "$h" || fail "inst$i: content hash"
    got=$(zcat "$E.callable.bed.gz" | sha256sum | cut -d' ' -f1)
    grep -q "sha256=sha256:$got," <<< "$h" || fail "inst$i: mask hash"
    # GTC per population equals the genotype counts of the call set
    python3 "$HERE/federation_check.py" gtc "$W/run$i/cohort.bcf" "$E" "$C/inst$i.tsv" || fail "inst$i: GTC"
    # the mask equals the per-population count of samples with a gVCF record, position by position
    python3 "$HERE/federation_check.py" mask "$E.callable.bed.gz" "$C/inst$i.tsv" "$W/gvcf" || fail "inst$i: mask"
  done
  echo "export: md5 contig lines, federation header, hashes, GTC equal to the call sets, masks equal to the gVCFs"
  ;;
exact)
  # The merge equals `tessera stats` on the 3 call sets merged with bcftools, each institution's
  # missing genotypes filled from its samples' callability (0/0 where callable).
  O=$W/exact; rm -rf "$O"; mkdir -p "$O"
  grep -q -- '--min-ac' <<<"$("$T" merge --help)" || fail "merge --help"
  "$T" merge --out "$O/m.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" "$W/inst3.vcf.gz" > "$O/log" \
    || fail "merge: $(cat "$O/log")"
  bcftools merge -m both -Oz -o "$O/bm.vcf.gz" "$W/run1/cohort.bcf" "$W/run2/cohort.bcf" "$W/run3/cohort.bcf"
  python3 "$HERE/federation_check.py" fill "$O/bm.vcf.gz" "$W/gvcf" "$O/gold.vcf" \
    "$W/run1/cohort.bcf" "$W/run2/cohort.bcf" "$W/run3/cohort.bcf" || fail "fill"
  bcftools view -Oz -o "$O/gold.vcf.gz" "$O/gold.vcf" && bcftools index "$O/gold.vcf.gz"
  "$T" stats --vcf "$O/gold.vcf.gz" --samples "$C/samples.tsv" --out "$O/gold" > /dev/null || fail "stats on gold"
  python3 "$HERE/federation_check.py" compare "$O/m.stats.tsv" "$O/gold/stats.tsv" "$O/m.vcf.gz" \
    "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" "$W/inst3.vcf.gz" || fail "merged statistics differ from the pooled ones"
  python3 "$HERE/federation_check.py" sfs "$O/m.statistics.json" "$O/gold/summary.json" || fail "SFS/F_ST differ"
  # the report: each institution's samples per population, the SFS and F_ST sections, no per-sample QC
  for i in 1 2 3; do
    grep -q "institution [123]: inst$i.vcf.gz</th><td>samples: pop1 2, pop2 2; content sha256:" "$O/m.report.html" \
      || fail "report.html lacks institution $i"
  done
  grep -q "Site-frequency spectrum per population" "$O/m.report.html" && grep -q "Hudson F" "$O/m.report.html" \
    && ! grep -q "Per-sample QC" "$O/m.report.html" || fail "report.html sections"
  # the membership-inference power printed and recorded: Phi(sqrt(M/N) - z_0.95) for M sites, N = 12 samples
  python3 - "$O/m.statistics.json" "$O/m.vcf.gz" "$W/inst1.vcf.gz" <<'PY' || fail "membership power"
import json, subprocess, sys
from statistics import NormalDist
m = json.load(open(sys.argv[1]))["merge"]["membership_power"]
M = int(subprocess.run(["bcftools", "view", "-H", sys.argv[2]], capture_output=True, text=True).stdout.count("\n"))
want = NormalDist().cdf((M / 12) ** 0.5 - NormalDist().inv_cdf(0.95))
assert m["sites"] == M and m["samples"] == 12 and abs(m["power"] - want) < 1e-6, (m, M, want)
h = subprocess.run(["bcftools", "view", "-h", sys.argv[3]], capture_output=True, text=True).stdout
e = [l for l in h.splitlines() if l.startswith("##tessera_membership=")][0]
n = int(e.split("sites=")[1].split(",")[0])
want_e = NormalDist().cdf((n / 4) ** 0.5 - NormalDist().inv_cdf(0.95))
assert abs(float(e.split("power=")[1].split(",")[0]) - want_e) < 1e-5, (e, want_e)
print("membership power: merge %.4f (%d sites, 12 samples), export %.4f (%d sites, 4 samples)" % (m["power"], M, want_e, n))
PY
  ;;
order)
  # Any order of the inputs and 1, 2 or 3 ranks: the same bytes.
  O=$W/order; rm -rf "$O"; mkdir -p "$O"
  "$T" merge --out "$O/abc.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" "$W/inst3.vcf.gz" > /dev/null
  "$T" merge --out "$O/cab.vcf.gz" "$W/inst3.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" > /dev/null
  "$MPI" --oversubscribe -n 2 "$T" merge --window 10000 --out "$O/bca.vcf.gz" "$W/inst2.vcf.gz" "$W/inst3.vcf.gz" \
    "$W/inst1.vcf.gz" > /dev/null
  "$MPI" --oversubscribe -n 3 "$T" merge --window 5000 --out "$O/acb.vcf.gz" "$W/inst1.vcf.gz" "$W/inst3.vcf.gz" \
    "$W/inst2.vcf.gz" > /dev/null
  for x in cab bca acb; do
    for f in vcf.gz stats.tsv statistics.json report.html; do cmp "$O/abc.$f" "$O/$x.$f" || fail "merge $x: $f differs"; done
  done
  [ -z "$(ls -A "$O" | grep '^\.tmp\.')" ] || fail "temporary files left: $(ls -A "$O")"
  echo "order: merge(A,B,C) = merge(C,A,B) = merge(B,C,A) at 2 ranks = merge(A,C,B) at 3 ranks, byte for byte"
  ;;
refuse)
  # Wrong reference (one base changed: the MD5 differs), a plain export, a changed record, a missing
  # mask: one line each naming the file, exit 1, nothing written; the same export twice: exit 2.
  O=$W/refuse; rm -rf "$O"; mkdir -p "$O"
  awk 'NR == 2 { $0 = (substr($0, 1, 1) == "A" ? "C" : "A") substr($0, 2) } { print }' "$C/ref.fa" > "$O/other.fa"
  "$MPI" --oversubscribe -n 1 "$T" run --ref "$O/other.fa" --samples "$C/inst3.tsv" --out "$O/run" \
    --shard-size 10000 --batch-size 3 --log-level warn > /dev/null 2>&1 || fail "run on the other reference"
  "$T" export --aggregate-only --in "$O/run" --out "$O/wrongref.vcf.gz" > /dev/null
  "$T" export --aggregate-only --vcf "$W/run1/cohort.bcf" --out "$O/plain.vcf.gz" > /dev/null
  cp "$W/inst2.vcf.gz.callable.bed.gz" "$O/changed.vcf.gz.callable.bed.gz"
  bcftools view "$W/inst2.vcf.gz" | awk 'BEGIN{OFS="\t"} !/^#/ && !d { $2 = $2 + 1; d = 1 } { print }' \
    | bgzip > "$O/changed.vcf.gz"; bcftools index "$O/changed.vcf.gz"
  mkdir "$O/dup"; cp "$W"/inst1.vcf.gz* "$O/dup/" # a copy of inst1's export, its mask (by the name its header gives) too
  expect() { # expect CODE FRAGMENT FILE...
    local code=$1 frag=$2 rc=0; shift 2
    "$T" merge --out "$O/m.vcf.gz" "$@" > /dev/null 2> "$O/err" || rc=$?
    [ "$rc" -eq "$code" ] || fail "merge $*: exit $rc ($(cat "$O/err"))"
    [ "$(wc -l < "$O/err")" -eq 1 ] && grep -q -- "$frag" "$O/err" || fail "merge $*: '$(cat "$O/err")' lacks '$frag'"
    [ -z "$(ls -A "$O" | grep -e '^m\.' -e '^\.tmp\.')" ] || fail "merge $*: left output behind: $(ls -A "$O")"
    echo "refused: $(cat "$O/err")"
  }
  expect 1 "wrongref.vcf.gz' was exported against another reference" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" "$O/wrongref.vcf.gz"
  expect 1 "plain.vcf.gz' is not a federated export" "$W/inst1.vcf.gz" "$O/plain.vcf.gz"
  expect 1 "changed.vcf.gz': its records do not match" "$W/inst1.vcf.gz" "$O/changed.vcf.gz"
  expect 1 "above --max-membership-power 0.01" --max-membership-power 0.01 "$W/inst1.vcf.gz" "$W/inst2.vcf.gz"
  expect 2 "are the same export" "$W/inst1.vcf.gz" "$O/dup/inst1.vcf.gz"
  rm "$O/dup/inst1.vcf.gz.callable.bed.gz"
  expect 1 "dup/inst1.vcf.gz.callable.bed.gz" "$W/inst2.vcf.gz" "$O/dup/inst1.vcf.gz"
  ;;
no_sample_ids)
  # No sample id anywhere in the exports, their masks or the merge's outputs.
  O=$W/ids; rm -rf "$O"; mkdir -p "$O"
  "$T" merge --out "$O/m.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" "$W/inst3.vcf.gz" > /dev/null
  files="$W/inst1.vcf.gz $W/inst2.vcf.gz $W/inst3.vcf.gz $O/m.vcf.gz"
  n=0
  for s in $(tail -n +2 "$C/samples.tsv" | cut -f1); do
    for f in $files; do
      ! zcat "$f" "$f.callable.bed.gz" 2>/dev/null | grep -- "$s" > /dev/null || fail "$f contains sample id $s"
      ! zcat "$f" | grep -- "$s" > /dev/null || fail "$f contains sample id $s"
    done
    ! grep -q -- "$s" "$O/m.stats.tsv" "$O/m.statistics.json" "$O/m.report.html" || fail "merge outputs contain sample id $s"
    n=$((n + 1))
  done
  [ "$n" -eq 12 ] || fail "expected 12 sample ids, grepped $n"
  for f in $files; do [ "$(bcftools query -l "$f" | wc -l)" -eq 0 ] || fail "$f has sample columns"; done
  echo "no sample id: $n ids grepped in 3 exports, 3 masks, the merged VCF, stats.tsv, statistics.json, report.html"
  ;;
drop)
  # --drop-to-power, export and merge: above --max-membership-power 0.5 the lowest-MAF sites go until the
  # power is <= 0.5 (the count printed and in the header); the merge's choice is the same at 2 ranks; without
  # --max-membership-power the option is a usage error.
  O=$W/drop; rm -rf "$O"; mkdir -p "$O"
  "$T" export --aggregate-only --in "$W/run1" --min-ac 0 --out "$O/full.vcf.gz" > /dev/null
  out=$("$T" export --aggregate-only --in "$W/run1" --min-ac 0 --max-membership-power 0.5 --drop-to-power \
    --out "$O/e.vcf.gz") || fail "export --drop-to-power failed"
  grep -q -- '--drop-to-power: [0-9]* sites dropped' <<< "$out" || fail "export does not print how many it dropped"
  python3 "$HERE/federation_check.py" dropcheck "$O/full.vcf.gz" "$O/e.vcf.gz" 0.5 4 || fail "export drop rule"
  "$T" merge --out "$O/full_m.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" "$W/inst3.vcf.gz" > /dev/null
  "$T" merge --max-membership-power 0.5 --drop-to-power --out "$O/m.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" \
    "$W/inst3.vcf.gz" > "$O/m.log" || fail "merge --drop-to-power failed: $(cat "$O/m.log")"
  python3 "$HERE/federation_check.py" dropcheck "$O/full_m.vcf.gz" "$O/m.vcf.gz" 0.5 12 || fail "merge drop rule"
  grep -q '"dropped_to_power": [1-9]' "$O/m.statistics.json" || fail "statistics.json does not record the drop"
  "$MPI" --oversubscribe -n 2 "$T" merge --window 10000 --max-membership-power 0.5 --drop-to-power \
    --out "$O/m2.vcf.gz" "$W/inst3.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" > /dev/null
  for f in vcf.gz stats.tsv statistics.json; do cmp "$O/m.$f" "$O/m2.$f" || fail "drop at 2 ranks: $f differs"; done
  set +e
  "$T" merge --drop-to-power --out "$O/x.vcf.gz" "$W/inst1.vcf.gz" "$W/inst2.vcf.gz" 2>/dev/null; rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "--drop-to-power without --max-membership-power: exit $rc, want 2"
  echo "drop-to-power: export and merge keep the most sites under the limit, lowest MAF dropped, any rank count"
  ;;
lowpass)
  # Low-pass federation: 90 samples at 0.7x in 2 populations, split round-robin into 3 institutions; each
  # runs --mode lowpass with --min-site-qual 0 --min-alt-obs 1 (every site with an ALT read) and exports
  # (likelihood curves + depth mask); the merge calls sites by the pooled likelihood (merged QUAL against
  # --min-site-qual 30) and its site set, QUAL and AF are checked against a pooled low-pass run of all 90
  # with the defaults (federation_check.py lowpass says what is asserted and why), any input order
  # and 1, 2 or 3 ranks giving the same bytes, no sample id anywhere, and a deep export refused beside them.
  # Needs the deep fixture only for that refusal; removes its own directory.
  O=$W.lowpass; rm -rf "$O"; mkdir -p "$O"
  L=$O/sim
  "$T" simulate --out "$L" --samples 90 --coverage 0.7 --length 40000 --bam --populations 2 --fst 0.05 --seed 7 \
    --threads 2 > /dev/null
  for i in 1 2 3; do head -1 "$L/samples.tsv" > "$L/inst$i.tsv"; done
  tail -n +2 "$L/samples.tsv" | awk -v d="$L" '{ print >> (d "/inst" ((NR - 1) % 3 + 1) ".tsv") }'
  for r in inst1 inst2 inst3 samples; do
    low=(--min-site-qual 0 --min-alt-obs 1); [ "$r" = samples ] && low=()
    "$T" run --ref "$L/ref.fa" --samples "$L/$r.tsv" --out "$O/run_$r" --mode lowpass "${low[@]}" \
      --batch-size 64 --shard-size 20000 --log-level warn > "$O/run_$r.log" 2>&1 || fail "run $r: $(cat "$O/run_$r.log")"
  done
  # the low thresholds reached the discovery: sites under QUAL 30 in the institutions' call sets, none pooled
  [ "$(bcftools view -H -i 'QUAL<30' "$O/run_inst1/cohort.bcf" | wc -l)" -gt 100 ] || fail "inst1: no site under QUAL 30"
  [ "$(bcftools view -H -i 'QUAL<30' "$O/run_samples/cohort.bcf" | wc -l)" -eq 0 ] || fail "pooled: a site under QUAL 30"
  for i in 1 2 3; do
    "$T" export --aggregate-only --in "$O/run_inst$i" --min-ac 0 --out "$O/lp$i.vcf.gz" > "$O/export$i.log" \
      || fail "export $i: $(cat "$O/export$i.log")"
    h=$(bcftools view -h "$O/lp$i.vcf.gz")
    grep -q '^##tessera_federation=<ID=export,format=1,mode=lowpass,.*curve_points=101>' <<< "$h" || fail "lp$i: header"
    grep -q '^##INFO=<ID=LLC_pop1,Number=.,Type=Float' <<< "$h" || fail "lp$i: no LLC_pop1"
    grep -q '^##tessera_callable_mask=<.*window=500,depth_bins=8,ref_qual=' <<< "$h" || fail "lp$i: no depth mask"
    got=$(zcat "$O/lp$i.vcf.gz.callable.bed.gz" | sha256sum | cut -d' ' -f1)
    grep -q "sha256=sha256:$got," <<< "$h" || fail "lp$i: mask hash"
  done
  "$T" merge --out "$O/abc.vcf.gz" "$O/lp1.vcf.gz" "$O/lp2.vcf.gz" "$O/lp3.vcf.gz" > "$O/merge.log" \
    || fail "merge: $(cat "$O/merge.log")"
  h=$(bcftools view -h "$O/abc.vcf.gz")
  grep -q '^##INFO=<ID=AF_pop2,Number=A,Type=Float,Description="ALT allele frequency in population pop2 by maximum likelihood' \
    <<<"$h" || fail "merged AF_pop2 header"
  grep -q '^##tessera_merge_qual=<ID=QUAL,min_site_qual=30,below_site_qual=[1-9][0-9]*,' <<<"$h" || fail "merged QUAL header"
  [ "$(bcftools view -H -i 'QUAL<30' "$O/abc.vcf.gz" | wc -l)" -eq 0 ] || fail "merged site under --min-site-qual 30"
  python3 "$HERE/federation_check.py" lowpass "$O/run_samples/cohort.bcf" "$O/abc.vcf.gz" 3 pop1,pop2 \
    || fail "merged AF against the pooled run"
  "$T" merge --out "$O/cab.vcf.gz" "$O/lp3.vcf.gz" "$O/lp1.vcf.gz" "$O/lp2.vcf.gz" > /dev/null
  "$MPI" --oversubscribe -n 2 "$T" merge --window 10000 --out "$O/bca.vcf.gz" "$O/lp2.vcf.gz" "$O/lp3.vcf.gz" \
    "$O/lp1.vcf.gz" > /dev/null
  "$MPI" --oversubscribe -n 3 "$T" merge --window 5000 --out "$O/acb.vcf.gz" "$O/lp1.vcf.gz" "$O/lp3.vcf.gz" \
    "$O/lp2.vcf.gz" > /dev/null
  for x in cab bca acb; do
    for f in vcf.gz stats.tsv statistics.json; do cmp "$O/abc.$f" "$O/$x.$f" || fail "low-pass merge $x: $f differs"; done
  done
  # the cohort threshold: --min-site-qual 60 keeps exactly the sites of QUAL >= 60; documented; bad values refused
  "$T" merge --min-site-qual 60 --out "$O/q60.vcf.gz" "$O/lp1.vcf.gz" "$O/lp2.vcf.gz" "$O/lp3.vcf.gz" > /dev/null
  [ "$(bcftools view -H "$O/q60.vcf.gz" | wc -l)" -eq "$(bcftools view -H -i 'QUAL>=60' "$O/abc.vcf.gz" | wc -l)" ] \
    && [ "$(bcftools view -H "$O/q60.vcf.gz" | wc -l)" -lt "$(bcftools view -H "$O/abc.vcf.gz" | wc -l)" ] \
    || fail "merge --min-site-qual 60 is not the QUAL >= 60 subset"
  x=$("$T" merge --help); grep -q -- '--min-site-qual Q' <<<"$x" || fail "merge --help: no --min-site-qual"
  x=$("$T" run --help); grep -q -- '--min-site-qual Q' <<<"$x" && grep -q -- '--min-alt-obs N' <<<"$x" \
    || fail "run --help: no --min-site-qual / --min-alt-obs"
  set +e
  "$T" merge --min-site-qual -1 --out "$O/bad.vcf.gz" "$O/lp1.vcf.gz" > /dev/null 2>&1; rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "merge --min-site-qual -1: rc $rc, want 2 (usage)"
  tail -n +2 "$L/samples.tsv" | cut -f1 > "$O/ids"
  n=$(grep -c . "$O/ids")
  [ "$n" -eq 90 ] || fail "expected 90 sample ids, have $n"
  for f in "$O"/lp[123].vcf.gz "$O/abc.vcf.gz"; do
    { zcat "$f"; [ ! -e "$f.callable.bed.gz" ] || zcat "$f.callable.bed.gz"; } > "$O/text"
    ! grep -F -f "$O/ids" "$O/text" > /dev/null || fail "$f or its mask contains sample id $(grep -o -F -f "$O/ids" "$O/text" | head -1)"
    grep -q 'LLC_pop1=' "$O/text" || [ "$f" = "$O/abc.vcf.gz" ] || fail "$f: grepped no record"
  done
  ! grep -F -f "$O/ids" "$O/abc.stats.tsv" "$O/abc.statistics.json" > /dev/null || fail "merge outputs contain a sample id"
  set +e
  err=$("$T" merge --out "$O/mixed.vcf.gz" "$O/lp1.vcf.gz" "$W/inst1.vcf.gz" 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" -eq 1 ] && [ "$(wc -l <<< "$err")" -eq 1 ] && grep -q 'mode' <<< "$err" || fail "a deep export beside a low-pass one: rc $rc: $err"
  [ ! -e "$O/mixed.vcf.gz" ] || fail "the refused merge wrote its output"
  echo "low-pass: institutions at --min-site-qual 0 --min-alt-obs 1, merged QUAL >= 30; 3 exports merged; same bytes in any order and at 1, 2 and 3 ranks; $n sample ids absent; deep+low-pass refused"
  rm -rf "$O"
  ;;
multiallelic)
  # Two hand-made exports: ALT alleles united across institutions (A>C here, A>G there), genotype counts
  # remapped, a site one institution lacks filled hom-ref where its mask says callable, missing elsewhere.
  # Needs no fixture; removes its own directory.
  O=$W.hand; rm -rf "$O"; mkdir -p "$O"
  python3 "$HERE/federation_check.py" handmade "$O"
  for x in A B; do
    bgzip -c "$O/$x.vcf" > "$O/$x.vcf.gz" && bcftools index "$O/$x.vcf.gz"
    bgzip -c "$O/$x.mask" > "$O/$x.vcf.gz.callable.bed.gz"
  done
  "$T" merge --out "$O/ab.vcf.gz" "$O/A.vcf.gz" "$O/B.vcf.gz" > /dev/null || fail "hand-made merge"
  "$T" merge --out "$O/ba.vcf.gz" "$O/B.vcf.gz" "$O/A.vcf.gz" > /dev/null || fail "hand-made merge B A"
  cmp "$O/ab.vcf.gz" "$O/ba.vcf.gz" || fail "hand-made merge depends on the input order"
  python3 "$HERE/federation_check.py" handcheck "$O/ab.vcf.gz" || fail "hand-made merge"
  rm -rf "$O"
  ;;
*)
  fail "unknown case '$case_'"
  ;;
esac
