#!/usr/bin/env bash
# Install what tessera needs from Debian 12 packages, only what is missing (idempotent).
set -euo pipefail

PKGS=(build-essential cmake pkg-config
      libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libhts-dev libhwloc-dev libminimap2-dev zlib1g-dev libssl-dev libcmocka-dev
      bcftools samtools tabix minimap2 bwa freebayes smalt-examples python3
      shapeit4-example plink2 vcftools
      clang-14 libclang-rt-14-dev valgrind strace
      chromium)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
