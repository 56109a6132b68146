#!/usr/bin/env bash
# Installs the Debian packages that holdfast's tests and benchmarks use. Idempotent: it runs
# apt-get only when a package is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  tar libarchive-tools attr acl e2fsprogs btrfs-progs xfsprogs util-linux
  qemu-utils libnbd-bin fuse3 restic borgbackup
  zsh fish groff-base
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-debian-packages: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-debian-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-debian-packages: done"
