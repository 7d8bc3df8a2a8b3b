#!/usr/bin/env bash
# privacy.sh: `tessera run` creates outputs readable by owner and group only (umask |= 027),
# and keeps a stricter umask (077) as it is.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_priv.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$T" simulate --out "$W/c" --samples 2 --coverage 4 --length 12000 --seed 3 >/dev/null
for mask in 022 077; do
  out=$W/out$mask
  (umask $mask; "$MPI" --oversubscribe -n 1 "$T" run --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" \
     --out "$out" --log-level error >/dev/null)
  n=$(find "$out" | wc -l)
  [ "$n" -gt 10 ] || fail "only $n paths in $out"
  # No path may be accessible by others; with umask 077 not by the group either.
  bad=$(find "$out" -perm /o=rwx)
  [ -z "$bad" ] || fail "umask $mask: readable by others: $bad"
  if [ $mask = 077 ]; then
    bad=$(find "$out" -perm /g=rwx)
    [ -z "$bad" ] || fail "umask 077 not honoured: $bad"
  else
    [ -n "$(find "$out/cohort.bcf" -perm -g=r)" ] || fail "umask 022: cohort.bcf not readable by the group"
  fi
  echo "umask $mask: $n paths, none open to others$([ $mask = 077 ] && echo ' or the group')"
done
