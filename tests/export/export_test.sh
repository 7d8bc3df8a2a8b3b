#!/usr/bin/env bash
# `tessera export --aggregate-only` and summary.json provenance. Usage: export_test.sh CASE WORKDIR
# Needs $TSR_TESSERA (the binary) and $TSR_MPIEXEC from CTest's environment; bcftools, python3.
set -euo pipefail
case_=$1 W=$2
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
C=$W/cohort R=$W/run
fail() { echo "FAIL: $*" >&2; exit 1; }

# Sum of INFO/AC per record (comma-separated per ALT; '.' counts 0), one per line.
ac_sums() { bcftools query -f '%INFO/AC\n' "$1" | awk -F, '{s=0; for(i=1;i<=NF;i++) if ($i != ".") s+=$i; print s}'; }
# Every site-level column: what an aggregate export must carry over unchanged.
sites() { bcftools query -f '%CHROM\t%POS\t%REF\t%ALT\t%QUAL\t%FILTER\t%INFO\n' "$1"; }

# The exported file holds no sample, no FORMAT line or column, no sample name anywhere in its bytes.
no_per_sample() { # no_per_sample FILE SHEET
  [ "$(bcftools query -l "$1" | wc -l)" -eq 0 ] || fail "$1 has samples"
  ! bcftools view -h "$1" | grep '^##FORMAT' > /dev/null || fail "$1 has ##FORMAT lines"
  bcftools view -h "$1" | tail -1 | grep -x $'#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO' > /dev/null || fail "$1: #CHROM line has more than 8 columns"
  bcftools view -H "$1" | awk -F'\t' 'NF != 8 { exit 1 }' || fail "$1: a record has sample columns"
  for s in $(tail -n +2 "$2" | cut -f1); do
    ! bcftools view "$1" | grep -- "$s" > /dev/null || fail "$1 contains sample name $s"
  done
}

case $case_ in
setup)
  rm -rf "$W"; mkdir -p "$W"
  "$T" simulate --out "$C" --samples 6 --coverage 8 --length 30000 --populations 2 --fst 0.1 --seed 3 >/dev/null
  "$MPI" --oversubscribe -n 2 "$T" run --ref "$C/ref.fa" --samples "$C/samples.tsv" --out "$R" \
    --shard-size 10000 --batch-size 3 --log-level warn > "$W/run.log" || fail "run: $(cat "$W/run.log")"
  test -s "$R/cohort.bcf" || fail "no cohort.bcf"
  ;;
cleanup)
  rm -rf "$W"
  ;;
summary_provenance)
  python3 -m json.tool "$R/summary.json" > /dev/null || fail "summary.json is not valid JSON"
  python3 - "$R/summary.json" "$C" <<'EOF' || fail "summary.json provenance"
import json, os, sys, zlib, datetime
s = json.load(open(sys.argv[1])); c = sys.argv[2]
def crc(p): return "%08x" % (zlib.crc32(open(p, "rb").read()) & 0xffffffff)
def check_file(rec, path, with_crc):
    st = os.stat(path)
    assert rec["path"] == os.path.realpath(path), (rec["path"], path)
    assert rec["size"] == st.st_size, (rec, st.st_size)
    mt = datetime.datetime.utcfromtimestamp(int(st.st_mtime)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rec["mtime_utc"] == mt, (rec, mt)
    if with_crc: assert rec["crc32"] == crc(path), (rec, crc(path))
    else: assert "crc32" not in rec
p = s["provenance"]; i = p["inputs"]
check_file(i["sample_sheet"], c + "/samples.tsv", True)
check_file(i["reference"], c + "/ref.fa", True)
check_file(i["reference_index"], c + "/ref.fa.fai", True)
sheet = [l.rstrip("\n").split("\t") for l in open(c + "/samples.tsv") if l.strip()]
hdr = [h.lstrip("#") for h in sheet[0]]
rows = [dict(zip(hdr, r)) for r in sheet[1:]]
assert [x["sample"] for x in i["samples"]] == [r["sample"] for r in rows]
for rec, r in zip(i["samples"], rows):
    assert rec["population"] == r["population"]
    files = [os.path.join(c, r[k]) for k in ("fastq1", "fastq2") if r.get(k)]
    assert len(rec["files"]) == len(files)
    for fr, fp in zip(rec["files"], files): check_file(fr, fp, False)
cl = p["command_line"]
for w in (" run ", "--ref " + c + "/ref.fa", "--samples " + c + "/samples.tsv", "--shard-size 10000"):
    assert w in cl, (w, cl)
assert set(p["versions"]) == {"tessera", "MPI", "HDF5", "htslib", "hwloc", "minimap2"}, p["versions"]
assert all(p["versions"].values())
assert s["ranks"] == 2 and len(s["peak_rss_bytes_by_rank"]) == 2
assert all(x > 0 for x in s["peak_rss_bytes_by_rank"])
assert max(s["peak_rss_bytes_by_rank"]) == s["peak_rss_bytes_max_rank"]
assert s["cpu_seconds"] > 0 and s["wall_seconds"] > 0
print("summary.json: valid; CRC32s, sizes, mtimes, command line, versions, CPU %.2f s, RSS by rank %s"
      % (s["cpu_seconds"], s["peak_rss_bytes_by_rank"]))
EOF
  [ -z "$(ls -A "$R" | grep '^\.tmp\.')" ] || fail "temporary files left in $R"
  ;;
summary_escaping)
  # An output path with a double quote, a backslash, a space and a tab: summary.json stays valid JSON
  # and records the command line exactly (shell-quoted).
  O="$W/esc \"q\" \\ 	dir"
  "$MPI" --oversubscribe -n 1 "$T" run --ref "$C/ref.fa" --samples "$C/samples.tsv" --out "$O" \
    --shard-size 10000 --batch-size 3 --log-level warn > /dev/null || fail "run with an odd --out failed"
  python3 - "$O/summary.json" "$O" <<'EOF' || fail "summary.json with an odd path"
import json, sys, shlex
s = json.load(open(sys.argv[1]))
argv = shlex.split(s["provenance"]["command_line"])
assert argv[argv.index("--out") + 1] == sys.argv[2], argv
assert len(s["peak_rss_bytes_by_rank"]) == 1
print("escaped command line round-trips:", argv[argv.index("--out") + 1])
EOF
  ;;
aggregate_only)
  O=$W/agg; rm -rf "$O"; mkdir -p "$O"
  grep -q -- '--min-ac' <<<"$("$T" export --help)" || fail "export --help"
  for f in sites.vcf.gz sites.bcf; do
    "$T" export --aggregate-only --in "$R" --out "$O/$f" > "$O/log" || fail "export $f: $(cat "$O/log")"
    grep -q "no per-sample data" "$O/log" || fail "no summary line"
    no_per_sample "$O/$f" "$C/samples.tsv"
    test -s "$O/$f.csi" || fail "$f: no index"
    # INFO, QUAL, FILTER equal cohort.bcf's for every kept site (default --min-ac 1 keeps AC >= 1);
    # the federated export (--in DIR) adds the genotype counts GTC_<pop> (tests/federation checks them).
    cmp <(paste <(ac_sums "$R/cohort.bcf") <(sites "$R/cohort.bcf") | awk -F'\t' '$1 >= 1' | cut -f2-) \
        <(bcftools annotate -x INFO/GTC_pop1,INFO/GTC_pop2 "$O/$f" | sites /dev/stdin) \
      || fail "$f: sites or INFO differ from cohort.bcf"
    [ "$(bcftools view -H "$O/$f" | grep -c 'GTC_pop1=.*GTC_pop2=')" -eq "$(bcftools view -H "$O/$f" | wc -l)" ] \
      || fail "$f: a site without its genotype counts"
    # The index works: a region query returns the records in it.
    n_idx=$(bcftools view -H -r sim1:1-15000 "$O/$f" | wc -l)
    n_all=$(bcftools view -H "$O/$f" | awk '$2 <= 15000' | wc -l)
    [ "$n_idx" -eq "$n_all" ] && [ "$n_idx" -gt 0 ] || fail "$f: index query gave $n_idx, expected $n_all"
  done
  [ -z "$(ls -A "$O" | grep '^\.tmp\.')" ] || fail "temporary files left"
  echo "aggregate-only: $(bcftools view -H "$O/sites.bcf" | wc -l) sites, 0 samples, no FORMAT; INFO equal to cohort.bcf"
  ;;
suppression)
  O=$W/sup; rm -rf "$O"; mkdir -p "$O"
  total=$(ac_sums "$R/cohort.bcf" | wc -l)
  keep=$(ac_sums "$R/cohort.bcf" | awk '$1 >= 3' | wc -l)
  [ "$keep" -gt 0 ] && [ "$keep" -lt "$total" ] || fail "cohort gives no test of --min-ac 3 ($keep of $total)"
  "$T" export --aggregate-only --vcf "$R/cohort.bcf" --min-ac 3 --out "$O/k3.bcf" > "$O/log"
  grep -q "$keep of $total sites.*$((total - keep)) suppressed" "$O/log" || fail "summary line: $(cat "$O/log")"
  [ "$(bcftools view -H "$O/k3.bcf" | wc -l)" -eq "$keep" ] || fail "--min-ac 3 did not keep $keep sites"
  ac_sums "$O/k3.bcf" | awk '$1 < 3 { exit 1 }' || fail "--min-ac 3 kept a site below 3"
  # A hand-made VCF with monomorphic sites (AC=0, AC=0,0), a singleton, a multi-allelic 0,2, and
  # per-sample metadata lines: the default K=1 drops exactly the monomorphic ones; K=0 keeps all.
  cat > "$O/m.vcf" <<'EOF'
##fileformat=VCFv4.3
##contig=<ID=c1,length=1000>
##INFO=<ID=AC,Number=A,Type=Integer,Description="ALT count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="alleles">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##SAMPLE=<ID=alice,Description="private">
##PEDIGREE=<ID=alice,Father=bob>
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	alice	bob
c1	10	.	A	G	50	PASS	AC=0;AN=4	GT:DP	0/0:9	0/0:8
c1	20	.	C	T	50	PASS	AC=1;AN=4	GT:DP	0/1:9	0/0:8
c1	30	.	G	A,T	50	PASS	AC=0,2;AN=4	GT:DP	0/2:7	0/2:6
c1	40	.	T	C,G	50	PASS	AC=0,0;AN=4	GT:DP	0/0:7	0/0:6
EOF
  bcftools view -Oz -o "$O/m.vcf.gz" "$O/m.vcf"
  "$T" export --aggregate-only --vcf "$O/m.vcf.gz" --out "$O/m1.vcf.gz" > /dev/null
  [ "$(bcftools query -f '%POS\n' "$O/m1.vcf.gz" | paste -sd,)" = "20,30" ] || fail "default --min-ac 1 kept $(bcftools query -f '%POS\n' "$O/m1.vcf.gz" | paste -sd,)"
  "$T" export --aggregate-only --vcf "$O/m.vcf.gz" --min-ac 0 --out "$O/m0.vcf.gz" > /dev/null
  [ "$(bcftools view -H "$O/m0.vcf.gz" | wc -l)" -eq 4 ] || fail "--min-ac 0 did not keep all 4"
  no_per_sample "$O/m0.vcf.gz" <(printf 'sample\nalice\nbob\n')
  ! bcftools view -h "$O/m0.vcf.gz" | grep -e '^##SAMPLE' -e '^##PEDIGREE' > /dev/null || fail "##SAMPLE/##PEDIGREE kept"
  echo "suppression: --min-ac 3 kept $keep of $total; K=1 drops monomorphic sites only; K=0 keeps all"
  ;;
refuse_per_sample)
  O=$W/ref; rm -rf "$O"; mkdir -p "$O"
  expect() { # expect CODE FRAGMENT ARGS...: exit code, one stderr line with FRAGMENT, no output file
    local code=$1 frag=$2 rc=0; shift 2
    "$T" export "$@" > /dev/null 2> "$O/err" || rc=$?
    [ "$rc" -eq "$code" ] || fail "export $*: exit $rc, expected $code ($(cat "$O/err"))"
    [ "$(wc -l < "$O/err")" -eq 1 ] && grep -q -- "$frag" "$O/err" || fail "export $*: stderr '$(cat "$O/err")' lacks '$frag'"
    [ -z "$(ls -A "$O" | grep -v '^err$')" ] || fail "export $*: left $(ls -A "$O")"
  }
  expect 2 "per-sample FORMAT field" --aggregate-only --in "$R" --out "$O/x.bcf" --fields AC,GT
  expect 2 "per-sample FORMAT field" --aggregate-only --in "$R" --out "$O/x.bcf" --fields FORMAT/AD
  expect 2 "per-sample FORMAT field" --aggregate-only --in "$R" --out "$O/x.bcf" --fields FMT/DP,AN
  expect 2 "not an INFO key" --aggregate-only --in "$R" --out "$O/x.bcf" --fields AC,nosuchkey
  expect 2 "gVCF and TSV exports arrive" --in "$R" --out "$O/x.bcf"
  expect 2 "must end in .vcf.gz or .bcf" --aggregate-only --in "$R" --out "$O/x.vcf"
  expect 2 "exactly one input" --aggregate-only --in "$R" --vcf "$R/cohort.bcf" --out "$O/x.bcf"
  expect 2 "--min-ac takes" --aggregate-only --in "$R" --out "$O/x.bcf" --min-ac -1
  expect 1 "cannot open" --aggregate-only --in "$O/none" --out "$O/x.bcf"
  # Writing the summary over its own input is refused (the rename would destroy the cohort).
  cp "$R/cohort.bcf" "$O/self.bcf"
  rc=0; "$T" export --aggregate-only --vcf "$O/self.bcf" --out "$O/self.bcf" 2> "$O/err" > /dev/null || rc=$?
  [ "$rc" -eq 2 ] && grep -q "the input itself" "$O/err" || fail "export over its input: exit $rc $(cat "$O/err")"
  cmp "$R/cohort.bcf" "$O/self.bcf" || fail "input changed"
  # A kept subset of INFO keys: only those keys (and the federated export's GTC_pop1, GTC_pop2, which
  # merge needs), and their values unchanged.
  "$T" export --aggregate-only --in "$R" --out "$O/f.bcf" --fields AC,INFO/AN,AF_pop1 > /dev/null
  [ "$(bcftools view -h "$O/f.bcf" | grep '^##INFO' | grep -vc 'ID=GTC_pop[12],')" -eq 3 ] || fail "--fields kept other INFO lines"
  cmp <(bcftools query -f '%POS %AC %AN %AF_pop1\n' -i 'SUM(INFO/AC)>=1' "$R/cohort.bcf") \
      <(bcftools query -f '%POS %AC %AN %AF_pop1\n' "$O/f.bcf") || fail "--fields values differ"
  ! bcftools view -H "$O/f.bcf" | grep 'NS=' > /dev/null || fail "--fields left NS in records"
  echo "refusals: FORMAT fields, unknown keys, other exports, bad names; --fields subset exact"
  ;;
atomic_output)
  # An export that fails part-way (a record without AC, then a truncated file) leaves an existing
  # output byte-identical and no temporary file; a successful one replaces it whole.
  O=$W/atom; rm -rf "$O"; mkdir -p "$O"
  echo "earlier results" > "$O/out.vcf.gz"; echo "earlier index" > "$O/out.vcf.gz.csi"
  cp "$O/out.vcf.gz" "$O/before"; cp "$O/out.vcf.gz.csi" "$O/before.csi"
  bcftools view "$R/cohort.bcf" | awk 'BEGIN{OFS="\t"} /^#/{print; next} {n++} n==40{sub(/;AC=[0-9,]+;/, ";", $8)} {print}' \
    | bcftools view -Oz -o "$O/noac.vcf.gz"
  [ "$(bcftools view -H "$O/noac.vcf.gz" | wc -l)" -gt 40 ] || fail "cohort too small for the test"
  rc=0; "$T" export --aggregate-only --vcf "$O/noac.vcf.gz" --out "$O/out.vcf.gz" 2> "$O/err" >/dev/null || rc=$?
  [ "$rc" -eq 1 ] && grep -q "has no INFO/AC" "$O/err" || fail "missing AC: exit $rc, $(cat "$O/err")"
  bcftools view "$R/cohort.bcf" -Ob -o "$O/full.bcf"
  head -c $(( $(stat -c %s "$O/full.bcf") * 2 / 3 )) "$O/full.bcf" > "$O/trunc.bcf"
  rc=0; "$T" export --aggregate-only --vcf "$O/trunc.bcf" --out "$O/out.vcf.gz" 2> "$O/err" >/dev/null || rc=$?
  [ "$rc" -eq 1 ] && [ "$(wc -l < "$O/err")" -eq 1 ] && grep -q "trunc.bcf" "$O/err" || fail "truncated input: exit $rc, $(cat "$O/err")"
  cmp "$O/before" "$O/out.vcf.gz" && cmp "$O/before.csi" "$O/out.vcf.gz.csi" || fail "a failed export changed the output"
  [ -z "$(ls -A "$O" | grep '^\.tmp\.')" ] || fail "temporary files left: $(ls -A "$O")"
  "$T" export --aggregate-only --in "$R" --out "$O/out.vcf.gz" > /dev/null || fail "export over an old file failed"
  [ "$(bcftools view -H "$O/out.vcf.gz" | wc -l)" -gt 40 ] || fail "replacement incomplete"
  bcftools view -H -r sim1 "$O/out.vcf.gz" > /dev/null || fail "replacement index unusable"
  [ -z "$(ls -A "$O" | grep '^\.tmp\.')" ] || fail "temporary files left after success"
  echo "atomic: failed exports left the old file intact; a good one replaced it whole"
  ;;
*)
  fail "unknown case '$case_'"
  ;;
esac
