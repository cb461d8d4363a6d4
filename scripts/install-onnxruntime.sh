#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that apsql's vision package
# (LABEL ... USING 'model.onnx') loads at run time.
#
# The library comes from the npm package onnxruntime-node, which ships a
# self-contained CPU build of libonnxruntime.so.1 for Linux x64 and arm64;
# npm is the only tool needed.
#
# Usage: scripts/install-onnxruntime.sh [DEST_DIR]
#   DEST_DIR defaults to lib/onnxruntime in the repository (gitignored).
#   ORT_VERSION overrides the version (default 1.30.0).
#
# Prints the installed library's path on stdout (and nothing else), so
#   export ONNXRUNTIME_LIB="$(scripts/install-onnxruntime.sh)"
# works; apsql also finds lib/onnxruntime/libonnxruntime.so.1 on its own.
set -euo pipefail

version="${ORT_VERSION:-1.30.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/lib/onnxruntime}"
lib="$dest/libonnxruntime.so.1"

if [ "$(uname -s)" != Linux ]; then
  echo "install-onnxruntime: only Linux is supported by this script; on $(uname -s) download ONNX Runtime $version from its release page and set ONNXRUNTIME_LIB" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "install-onnxruntime: no prebuilt library for $(uname -m) in onnxruntime-node; build ONNX Runtime from source and set ONNXRUNTIME_LIB" >&2
    exit 1
    ;;
esac

if [ -f "$lib" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  echo "install-onnxruntime: ONNX Runtime $version already installed" >&2
  echo "$lib"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install-onnxruntime: npm is required (apt-get install npm, or install Node.js)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "install-onnxruntime: fetching onnxruntime-node@$version with npm pack" >&2
(cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
member="package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
tar -xzf "$tmp/onnxruntime-node-$version.tgz" -C "$tmp" "$member"

mkdir -p "$dest"
# Write beside the target and rename, so an interrupted install never leaves
# a truncated library under the real name.
install -m 0644 "$tmp/$member" "$lib.tmp"
mv -f "$lib.tmp" "$lib"
echo "$version" >"$dest/VERSION"

echo "install-onnxruntime: installed ONNX Runtime $version ($arch)" >&2
echo "$lib"
