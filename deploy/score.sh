#!/usr/bin/env bash
# Compare called sites with a truth VCF after normalisation (bcftools norm -m- against the reference).
# Usage: deploy/score.sh REF.fa TRUTH.vcf.gz CALLS.bcf   -> prints "tp fp fn precision recall"
# Only PASS calls with a non-reference genotype in some sample count.
set -euo pipefail
ref=$1 truth=$2 calls=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
norm() { bcftools norm -m- -f "$ref" "$1" 2>/dev/null | bcftools view -H 2>/dev/null | awk '$5!="*" {print $1":"$2":"$4":"$5}' | sort -u; }
bcftools view -f PASS,. -i 'GT="alt"' "$calls" -Oz -o "$tmp/calls.vcf.gz" 2>/dev/null
norm "$truth" > "$tmp/t"
norm "$tmp/calls.vcf.gz" > "$tmp/c"
tp=$(comm -12 "$tmp/t" "$tmp/c" | wc -l)
fp=$(comm -13 "$tmp/t" "$tmp/c" | wc -l)
fn=$(comm -23 "$tmp/t" "$tmp/c" | wc -l)
awk -v tp="$tp" -v fp="$fp" -v fn="$fn" 'BEGIN {
  p = (tp + fp) ? tp / (tp + fp) : 0; r = (tp + fn) ? tp / (tp + fn) : 0;
  printf "%d %d %d %.4f %.4f\n", tp, fp, fn, p, r }'
