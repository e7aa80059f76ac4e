#!/usr/bin/env bash
# The Windows release artefacts, built on Debian in one command:
#     packaging/windows/release.sh [--no-build] [--out DIR]
# Cross-builds kensa.exe for x86_64-pc-windows-gnu (needs
# `rustup target add x86_64-pc-windows-gnu` and the Debian packages
# gcc-mingw-w64-x86-64 and wixl, which tests/run-all.sh installs), strips
# it, and writes into DIR (default target/):
#   kensa-VERSION-windows-x86_64.zip  kensa.exe, the bundled signatures
#       (signatures/), the example configuration kensa.toml, the README;
#   kensa-VERSION-windows-x86_64.msi  the same files for
#       "C:\Program Files\kensa" (packaging/windows/kensa.wxs, built by
#       wixl; the signatures' components listed by wixl-heat).
# --no-build takes the kensa.exe already built (the tests use it).
# Nothing test-only goes in (the Wine ProcessPrng shim of tests/windows
# never does). Prints each artefact's path and SHA-256.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=x86_64-pc-windows-gnu
build=1
out_dir="$PWD/target"
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --out) out_dir=$(realpath -m "${2:?--out needs a directory}"); shift ;;
        -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "release.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for tool in x86_64-w64-mingw32-strip zip wixl wixl-heat; do
    command -v "$tool" >/dev/null ||
        { echo "release.sh: $tool is missing (apt-get install gcc-mingw-w64-x86-64 zip wixl)" >&2; exit 1; }
done
if [ "$build" = 1 ]; then
    cargo build --release --locked --target "$target" --bin kensa
fi
exe="target/$target/release/kensa.exe"
[ -f "$exe" ] || { echo "release.sh: $exe is missing (run without --no-build)" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
name="kensa-${version}-windows-x86_64"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir="$stage/$name"
mkdir -p "$dir" "$out_dir"
x86_64-w64-mingw32-strip -o "$dir/kensa.exe" "$exe"
cp -r signatures "$dir/signatures"
cp packaging/kensa.toml "$dir/kensa.toml"
cp README.md "$dir/README.md"

zip_out="$out_dir/$name.zip"
rm -f "$zip_out"
(cd "$stage" && zip -qr -X "$zip_out" "$name")

# wixl resolves sources relative to the working directory only.
msi_out="$out_dir/$name.msi"
wxs="$PWD/packaging/windows/kensa.wxs"
(
    cd "$dir"
    find signatures -type f | LC_ALL=C sort |
        wixl-heat --prefix signatures/ --directory-ref SIGDIR \
            --component-group Signatures --var var.SigDir --win64 > "$stage/signatures.wxs"
    wixl -a x64 -D Version="$version" -D SourceDir=. -D SigDir=signatures -D Win64=yes \
        -o "$msi_out" "$wxs" "$stage/signatures.wxs"
)
for f in "$zip_out" "$msi_out"; do
    echo "$f"
    sha256sum "$f"
done
