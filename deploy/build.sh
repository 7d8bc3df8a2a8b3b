#!/usr/bin/env bash
# Configure and build tessera into BUILD_DIR (default: build/ at the repository root).
# Extra arguments go to cmake's configure step (e.g. -DTSR_SANITIZE=ON).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" 2>&1 | grep -E "error|warning|Error" || true
test -x "$BUILD_DIR/tessera" || { echo "build: tessera was not built; run 'cmake --build $BUILD_DIR' to see why" >&2; exit 1; }
echo "build: $BUILD_DIR/tessera"
