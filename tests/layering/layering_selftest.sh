#!/usr/bin/env bash
# The layering check must fail on a tree that breaks the layers: copy the modules' sources and
# READMEs to a temporary tree, check that the copy passes, then plant one upward include (runtime
# including io), one private header used across modules and one README that allows an upward
# include, and require exit 1 with a line naming each.
set -euo pipefail
SRC="${TSR_SOURCE_DIR:?}"
CHECK="$SRC/tests/layering/check_layers.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
(cd "$SRC" && find runtime scheduler io kernels \( -name '*.c' -o -name '*.h' -o -name README.md \) -print0 |
  xargs -0 cp --parents -t "$T")
python3 "$CHECK" "$T" >/dev/null || { echo "FAIL: an unmodified copy of the tree does not pass"; exit 1; }
printf '#include "io/io.h"\n' >> "$T/runtime/status.c"
printf '#include "io/io_internal.h"\n' >> "$T/kernels/joint_em.c"
sed -i 's/^\*\*Layer 1\.\*\* May include: `runtime\/`/**Layer 1.** May include: `runtime\/`, `kernels\/`/' "$T/scheduler/README.md"
set +e
out=$(python3 "$CHECK" "$T")
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: exit $rc on a broken tree, want 1"; exit 1; }
grep -q 'runtime/status.c:.*includes "io/io.h"' <<<"$out" || { echo "FAIL: the upward include is not named"; exit 1; }
grep -q 'kernels/joint_em.c:.*private to io/' <<<"$out" || { echo "FAIL: the private header is not named"; exit 1; }
grep -q 'scheduler/README.md: layer 1 may not include `kernels/`' <<<"$out" || { echo "FAIL: the README's upward allowance is not named"; exit 1; }
echo "ok: the layering check names all three planted problems"
