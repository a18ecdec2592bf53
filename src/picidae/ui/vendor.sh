#!/usr/bin/env bash
# Refresh the web UI's vendored browser libraries from the npm registry.
#
# The UI needs no Node at install or run time: these built files ship inside the Python
# package (static/vendor/), each with its licence. Node/npm is only needed to run this script.
# To upgrade: change a version (and its integrity, from `npm view PKG@VERSION dist.integrity`),
# run `bash src/picidae/ui/vendor.sh`, check the pages (`pytest tests/ui`), commit the result.
set -euo pipefail
cd "$(dirname "$0")/static/vendor"

# name        version  npm integrity (sha512 of the published tarball)                                  files to copy from the package
PACKAGES=(
  "uplot 1.6.32 sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw== dist/uPlot.iife.min.js,dist/uPlot.min.css,LICENSE"
)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for entry in "${PACKAGES[@]}"; do
  read -r name version integrity files <<<"$entry"
  actual="$(npm view "$name@$version" dist.integrity 2>/dev/null)"
  if [ "$actual" != "$integrity" ]; then
    echo "vendor.sh: $name@$version has integrity $actual, expected $integrity" >&2
    exit 1
  fi
  (cd "$scratch" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$scratch/$name-$version.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "vendor.sh: downloaded $name@$version does not match its integrity" >&2
    exit 1
  fi
  rm -rf "$scratch/package" && tar -xzf "$tarball" -C "$scratch"
  rm -rf "$name" && mkdir -p "$name"
  IFS=',' read -r -a paths <<<"$files"
  for path in "${paths[@]}"; do
    cp "$scratch/package/$path" "$name/"
  done
  printf '%s %s %s\n' "$name" "$version" "$integrity" >"$name/VERSION"
  echo "vendored $name@$version"
done
