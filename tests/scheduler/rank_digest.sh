#!/bin/bash
# The journal's content (sorted completion records) must not depend on the
# rank count: run the driver at 1, 2 and 3 ranks and compare digests.
set -euo pipefail
driver=$1
mpiexec=${TSR_MPIEXEC:-mpirun}
dir=$(mktemp -d /tmp/tsr_rank_digest.XXXXXX)
trap 'rm -rf "$dir"' EXIT
ref=""
for np in 1 2 3; do
  "$mpiexec" --oversubscribe -n "$np" "$driver" --out "$dir/np$np" --tasks 10000 > "$dir/np$np.txt"
  digest=$(grep '^journal-digest' "$dir/np$np.txt")
  echo "np=$np: $digest"
  if [ -z "$ref" ]; then
    ref=$digest
  elif [ "$digest" != "$ref" ]; then
    echo "FAIL: digest at $np ranks ($digest) differs from 1 rank ($ref)" >&2
    exit 1
  fi
done
echo "OK: identical journal content at 1, 2 and 3 ranks"
