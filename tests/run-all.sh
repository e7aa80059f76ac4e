#!/usr/bin/env bash
# Runs every kensa check on a fresh Debian machine of the project's kind:
# installs the Debian packages the end-to-end tests use and the rustfmt and
# clippy components, then the lint gate (`cargo fmt --check`, `cargo clippy
# -D warnings` over every target, benchmarks included) and the whole test
# suite. Release profile throughout: one yara-x build serves the binary,
# clippy's build scripts, the tests and the benchmarks.
# Needs nothing beside the repository: fixtures live in tests/data.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages used by end-to-end tests (minisign: signature
# cross-checks; chromium: HTML report rendering; fonts-ipafont-gothic:
# a Japanese font, so the report's screenshot shows glyphs; fusefat, dosfstools,
# mtools, exfatprogs, exfat-fuse, e2fsprogs, ntfs-3g, fuse3: real media
# mounts; attr: setfattr for NTFS attributes;
# xorriso, genisoimage, udftools, fuseiso: ISO 9660 / UDF images built
# without mounting, and the ISO's FUSE mount; util-linux: losetup, mount;
# fdisk (sfdisk), xorriso: partitioned images for tests/disk/partition.rs;
# dbus-daemon, dbus-bin (dbus-monitor): the gate's desktop notification
# test (tests/agent/gate.rs) on a private session bus;
# zip, unzip, 7zip: archives behind stubs built and extracted by the real
# tools; python3-jsonschema: validates real output against schema/;
# gcab, msitools, cabextract: cabinets and MSI files; arj, sharutils
# (uuencode), mpack, cpio, nsis (makensis), binutils (ar):
# the issue-14 container formats built by their real tools;
# gcc-mingw-w64-x86-64, wine64: the Windows build (x86_64-pc-windows-gnu)
# linked with mingw and run under Wine by tests/windows; wixl: the
# Windows MSI of packaging/windows/release.sh);
# rsyslog: a real rsyslogd receives kensa's RFC 5424 messages,
# tests/support/rsyslog.rs and tests/agent/syslog.rs);
# postgresql: the collector tests on PostgreSQL, tests/collector_pg, which
# start a private server from its initdb and pg_ctl);
# mmdebstrap, systemd-container (systemd-nspawn): tests/service boots the
# package's unit under systemd in a Debian 12 container).
packages=(minisign chromium fonts-ipafont-gothic fusefat dosfstools mtools exfatprogs exfat-fuse e2fsprogs ntfs-3g attr fuse3 util-linux fdisk zip unzip 7zip man-db python3-jsonschema xorriso genisoimage udftools fuseiso dbus-daemon dbus-bin gcab msitools cabextract arj sharutils mpack cpio nsis binutils gcc-mingw-w64-x86-64 wine64 wixl rsyslog postgresql mmdebstrap systemd-container)
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

# The JSON Schema validator of tests/journal/schema.rs: the `python3` on
# PATH must import jsonschema (4.x: Draft 2020-12). When that python3 is
# not Debian's (pyenv, a venv), the package above does not reach it: pip.
if ! python3 -c 'import jsonschema; jsonschema.Draft202012Validator' >/dev/null 2>&1; then
    echo "installing the Python package jsonschema for $(command -v python3)" >&2
    python3 -m pip install --quiet jsonschema ||
        echo "warning: cannot install jsonschema (tests/journal/schema.rs will fail)" >&2
fi

# The OCSF schema compiler of tests/collector/forward (PyPI ocsf-lib: builds
# each OCSF class from tests/data/ocsf-1.8.0 with its base event, profiles
# and objects, offline), for the same python3.
if ! python3 -c 'import ocsf.compile' >/dev/null 2>&1; then
    echo "installing the Python package ocsf-lib for $(command -v python3)" >&2
    python3 -m pip install --quiet 'ocsf-lib==0.10.4' ||
        echo "warning: cannot install ocsf-lib (tests/collector/forward.rs will fail)" >&2
fi

# The lint tools: rustup components when the toolchain comes from rustup.
for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1; then
        component=$([ "$tool" = fmt ] && echo rustfmt || echo clippy)
        if command -v rustup >/dev/null; then
            echo "installing rustup component $component" >&2
            rustup component add "$component"
        else
            echo "error: cargo $tool is missing and there is no rustup to add $component" >&2
            exit 1
        fi
    fi
done

# The Windows build for tests/windows (run under Wine). When the target
# or the build cannot be had, say so loudly: tests/windows then fails,
# naming what is missing (it never passes without a Windows binary).
echo "== cargo build --release --target x86_64-pc-windows-gnu --bin kensa" >&2
windows=1
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    rustup target add x86_64-pc-windows-gnu || {
        windows=0
        echo "ERROR: cannot add the rustup target x86_64-pc-windows-gnu; the Windows tests will FAIL" >&2
    }
fi
if [ "$windows" = 1 ]; then
    cargo build --release --locked --target x86_64-pc-windows-gnu --bin kensa || {
        windows=0
        echo "ERROR: the Windows build failed; the Windows tests will FAIL" >&2
    }
fi

echo "== cargo fmt --all --check" >&2
cargo fmt --all --check
echo "== cargo clippy --release --workspace --all-targets --locked -- -D warnings" >&2
cargo clippy --release --workspace --all-targets --locked -- -D warnings
if [ "$windows" = 1 ]; then
    echo "== cargo clippy --release --locked --target x86_64-pc-windows-gnu --bin kensa -- -D warnings" >&2
    cargo clippy --release --locked --target x86_64-pc-windows-gnu --bin kensa -- -D warnings
fi
# --no-fail-fast: every test binary runs, so one failing area does not
# hide the state of the others.
echo "== cargo test --release --workspace --locked --no-fail-fast" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary,
# the last being the doc tests' "0 passed").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;/) p += $i; if ($(i+1) ~ /^failed;/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
