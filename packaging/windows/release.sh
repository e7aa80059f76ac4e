#!/usr/bin/env bash
# The Windows release artefact, built on Debian in one command:
#     packaging/windows/release.sh
# Cross-builds kensa.exe for x86_64-pc-windows-gnu (needs
# `rustup target add x86_64-pc-windows-gnu` and the Debian package
# gcc-mingw-w64-x86-64, which tests/run-all.sh installs) and writes
# target/kensa-VERSION-windows-x86_64.zip holding kensa.exe, the bundled
# signatures (signatures/), the example configuration kensa.toml and the
# README. Nothing test-only goes in (the Wine ProcessPrng shim of
# tests/windows never does). Prints the zip's path and SHA-256.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=x86_64-pc-windows-gnu
cargo build --release --locked --target "$target" --bin kensa
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
name="kensa-${version}-windows-x86_64"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name"
cp "target/$target/release/kensa.exe" "$stage/$name/"
cp -r signatures "$stage/$name/signatures"
cp packaging/kensa.toml "$stage/$name/kensa.toml"
cp README.md "$stage/$name/README.md"
out="$PWD/target/$name.zip"
rm -f "$out"
(cd "$stage" && zip -qr -X "$out" "$name")
echo "$out"
sha256sum "$out"
