#!/usr/bin/env bash
# deploy/modulefiles under Lmod (Debian's lmod, installed when missing): `cmake --install` into a
# temporary prefix, then `module load tessera/VERSION` from PREFIX/share/modulefiles (prefix found from
# the modulefile's own path) and from the source tree with TESSERA_PREFIX; each time `tessera --version`
# must be the installed binary and print the library versions; `module unload` must undo PATH.
set -euo pipefail
src=${TSR_SOURCE_DIR:?}
build=${TSR_BUILD_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! dpkg-query -W -f='${Status}' lmod 2>/dev/null | grep "install ok installed" > /dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: Lmod is not installed and this is not root"; exit 77; }
  echo "lmod: installing lmod"
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lmod; } >/dev/null 2>&1 ||
    { echo "SKIP: apt-get install lmod failed"; exit 77; }
fi
lmod_init=/usr/share/lmod/lmod/init/bash
[ -r "$lmod_init" ] || fail "$lmod_init missing after installing lmod"

dir=$(mktemp -d /tmp/tsr_module.XXXXXX)
manifest=$build/install_manifest.txt
had_manifest=0; [ -e "$manifest" ] && had_manifest=1
cleanup() { rm -rf "$dir"; [ $had_manifest = 1 ] || rm -f "$manifest"; }
trap cleanup EXIT
version=$(sed -n 's/^tessera *//p' < <("$build/tessera" --version) | head -1)
[ -n "$version" ] || fail "tessera --version printed no tessera line"
cmake --install "$build" --prefix "$dir/prefix" >/dev/null
[ -f "$dir/prefix/share/modulefiles/tessera/$version.lua" ] ||
  fail "cmake --install did not install share/modulefiles/tessera/$version.lua"

# run in a clean login-like shell: Lmod's `module` is a shell function
check() {  # MODULEPATH [TESSERA_PREFIX]
  env -i HOME="$dir" PATH=/usr/bin:/bin TESSERA_PREFIX="${2:-}" MODULEPATH="$1" LMOD_init="$lmod_init" \
    bash --norc --noprofile -c '
      set -e
      source "$LMOD_init"
      module load tessera/'"$version"'
      echo "which: $(command -v tessera)"
      echo "root: $TESSERA_ROOT"
      tessera --version
      module unload tessera
      echo "after unload: $(command -v tessera || echo none)"'
}
for mode in installed source; do
  if [ $mode = installed ]; then out=$(check "$dir/prefix/share/modulefiles" 2>&1) || fail "module load: $out"
  else out=$(check "$src/deploy/modulefiles" "$dir/prefix" 2>&1) || fail "module load (TESSERA_PREFIX): $out"; fi
  echo "--- module load tessera/$version ($mode)"
  echo "$out"
  grep -qx "which: $dir/prefix/bin/tessera" <<< "$out" || fail "($mode) tessera on PATH is not the installed one"
  grep -qx "root: $dir/prefix" <<< "$out" || fail "($mode) TESSERA_ROOT is not the prefix"
  for lib in MPI HDF5 htslib hwloc minimap2; do
    grep -q "^$lib " <<< "$out" || fail "($mode) tessera --version does not print the $lib version"
  done
  grep -qx "after unload: none" <<< "$out" || fail "($mode) module unload left tessera on PATH"
done

# a modulefile with no prefix to find must refuse to load, with one line that says what to do
mkdir -p "$dir/elsewhere/tessera"
cp "$src/deploy/modulefiles/tessera/$version.lua" "$dir/elsewhere/tessera/"
if out=$(check "$dir/elsewhere" 2>&1); then fail "the modulefile loaded without a tessera prefix"; fi
grep -q "TESSERA_PREFIX" <<< "$out" || fail "the load error does not say how to fix it: $out"
echo "ok"
