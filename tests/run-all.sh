#!/usr/bin/env bash
# Runs every kensa test on a fresh Debian machine of the project's kind:
# installs the Debian packages the end-to-end tests use, then builds and
# runs the whole suite (release profile: one yara-x build serves the
# binary, the tests and the benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages used by end-to-end tests (minisign: signature
# cross-checks; chromium: HTML report rendering; fusefat, dosfstools,
# mtools, e2fsprogs, fuse3: real media mounts; systemd: unit checks).
packages=(minisign chromium fusefat dosfstools mtools e2fsprogs fuse3 util-linux)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing: ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "warning: not root; cannot install ${missing[*]} (tests that need them will fail)" >&2
    fi
fi

cargo test --release --locked
