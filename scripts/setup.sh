#!/usr/bin/env bash
# Installs the Debian packages autosam-swift needs, if any are missing. Idempotent: a machine that
# has everything is left untouched (no apt-get call at all).
set -euo pipefail

packages=(libopenblas-dev libopenmpi-dev openmpi-bin libpng-dev zlib1g-dev libdnnl-dev pkg-config iproute2)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present (${packages[*]})"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
