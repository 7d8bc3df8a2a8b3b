#!/usr/bin/env bash
# report.html in headless Chromium: `tessera stats` (2 ranks) on a small generated cohort (2 populations
# with different allele frequencies, one sample with many missing calls), then
#  - the file is self-contained: no <script>, no src=/href=, no URL but the SVG namespace;
#  - --dump-dom: one <svg> per population SFS + AF histogram + QC scatter + Fst heat map, by id, and the
#    outlier sample drawn as an outlier point;
#  - no console message while loading (checked to be detectable with a page that logs one);
#  - --screenshot at 1200x2000 is a PNG with drawn content (checked against a blank page's screenshot).
# Exit 77 (skip) only when chromium is missing or cannot start.
# Usage: report_chromium.sh  (needs $TSR_TESSERA, $TSR_MPIEXEC, $TSR_BUILD_DIR from CTest)
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun} PNG=${TSR_BUILD_DIR:?}/tests/report/png_check
fail() { echo "FAIL: $*" >&2; exit 1; }
W=$(mktemp -d /tmp/tsr_report.XXXXXX)
trap 'rm -rf "$W"' EXIT
export HOME=$W

# 60 samples (POPA: S00..S29, POPB: S30..S59), 400 sites; S07 misses 40% of its calls.
awk 'BEGIN{OFS="\t"; srand(11); S=60;
  print "##fileformat=VCFv4.2"; print "##contig=<ID=t1,length=100000>";
  print "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">";
  print "##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Depth\">";
  h="#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"; for(j=0;j<S;j++) h=h sprintf("\tS%02d",j); print h;
  split("A C G T",B," ");
  for(i=1;i<=400;i++){ r=B[1+int(rand()*4)]; a=B[1+(index("ACGT",r)+int(rand()*3))%4];
    if(i%37==0) a=r "TT"; alt=a; if(i%53==0) alt=a "," (r=="A"?"C":"A");
    p=rand()^2; pa=p; pb=(rand()<0.5)?p:rand()^2; line="t1\t" (i*200) "\t.\t" r "\t" alt "\t50\tPASS\t.\tGT:DP";
    for(j=0;j<S;j++){ q=(j<30)?pa:pb; g1=(rand()<q); g2=(rand()<q);
      gt=g1 "/" g2; if(j==7 && rand()<0.4) gt="./."; line=line "\t" gt ":" (10+int(rand()*20)) }
    print line } }' > "$W/c.vcf"
bgzip -c "$W/c.vcf" > "$W/c.vcf.gz" && bcftools index "$W/c.vcf.gz"
awk 'BEGIN{print "sample\tpopulation"; for(j=0;j<60;j++) printf "S%02d\t%s\n", j, (j<30?"POPA":"POPB")}' > "$W/pops.tsv"
"$MPI" --oversubscribe -n 2 "$T" stats --vcf "$W/c.vcf.gz" --samples "$W/pops.tsv" --window 20k --out "$W/out" \
  > "$W/stats.log" || fail "tessera stats: $(cat "$W/stats.log")"
R=$W/out/report.html
[ -s "$R" ] || fail "no report.html"
grep -qi '<script' "$R" && fail "report.html has a <script>"
grep -qiE '(src|href)=' "$R" && fail "report.html loads or links something (src=/href=)"
[ -z "$(grep -oE '(https?|ftp)://[^"]*' "$R" | grep -v '^http://www.w3.org/2000/svg$' || true)" ] ||
  fail "report.html names a URL other than the SVG namespace"
grep -q $'^S07\t.*call_rate' "$W/out/sample_qc.tsv" || fail "S07 is not flagged for its call rate in sample_qc.tsv"

command -v chromium >/dev/null || { echo "SKIP: chromium is not installed (deploy/setup.sh installs it)"; exit 77; }
chrome() { # chrome PROFILE ARGS...: headless Chromium with its log on stderr
  local prof=$1; shift
  timeout 90 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --no-default-browser-check \
    --user-data-dir="$W/$prof" --enable-logging=stderr --v=0 "$@"
}
if ! chrome p0 --dump-dom about:blank > "$W/blank.dom" 2> "$W/blank.err" || ! grep -q '<html' "$W/blank.dom"; then
  echo "SKIP: chromium cannot start: $(grep -m1 -iE 'error|fatal' "$W/blank.err" || tail -n 1 "$W/blank.err")"
  exit 77
fi

# The console check can see a console message (positive control).
printf '<!DOCTYPE html><html><body><script>console.error("tsr-probe");</script></body></html>' > "$W/probe.html"
chrome p1 --dump-dom "file://$W/probe.html" > /dev/null 2> "$W/probe.err" || fail "chromium failed on the probe page"
grep -q 'CONSOLE.*tsr-probe' "$W/probe.err" || fail "a console message is not visible in chromium's log: the check below would be blind"

chrome p2 --dump-dom "file://$R" > "$W/report.dom" 2> "$W/report.err" || fail "chromium --dump-dom failed: $(tail -n 3 "$W/report.err")"
if grep -q 'CONSOLE' "$W/report.err"; then grep 'CONSOLE' "$W/report.err" >&2; fail "report.html logs console messages"; fi
n_svg=$(grep -o '<svg' "$W/report.dom" | wc -l)
[ "$n_svg" -eq 5 ] || fail "$n_svg <svg> elements in the DOM, expected 5 (2 SFS, AF, QC, Fst)"
for id in sfs-0 sfs-1 af-hist qc-scatter fst-heatmap; do
  grep -q "<svg id=\"$id\"" "$W/report.dom" || fail "no <svg id=\"$id\"> in the DOM"
done
grep -q '<circle class="out"[^>]*><title>S07</title>' "$W/report.dom" || fail "S07 is not drawn as an outlier in the QC scatter"
[ "$(grep -o '<rect class="bar"' "$W/report.dom" | wc -l)" -gt 100 ] || fail "too few bars in the SFS and AF plots"

chrome p3 --screenshot="$W/report.png" --window-size=1200,2000 "file://$R" > /dev/null 2> "$W/shot.err" ||
  fail "chromium --screenshot failed: $(tail -n 3 "$W/shot.err")"
printf '<!DOCTYPE html><html><body></body></html>' > "$W/empty.html"
chrome p4 --screenshot="$W/empty.png" --window-size=1200,2000 "file://$W/empty.html" > /dev/null 2>&1 ||
  fail "chromium --screenshot of an empty page failed"
if "$PNG" "$W/empty.png" > "$W/empty.png.txt"; then fail "the PNG check calls an empty page drawn: $(cat "$W/empty.png.txt")"; fi
"$PNG" "$W/report.png" > "$W/report.png.txt" || fail "the report screenshot looks blank: $(cat "$W/report.png.txt")"
echo "report_chromium: $n_svg plots in the DOM, no console messages, screenshot $(cat "$W/report.png.txt")"
