#!/usr/bin/env bash
# Refresh the vendored JavaScript of `flowc serve` (server/static/vendor/) from the npm
# registry, pinned: the tarball must match its sha512 integrity below, the file its sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="chart.js@4.4.9"
INTEGRITY="sha512-EyZ9wWKgpAU0fLJ43YAEIF8sr5F2W3LqbS40ZJyHIner2lY14ufqv2VMp69MAiZ2rpwxEUxEhIH/0U3xyRynxg=="
FILE_SHA256="de315773454b6076b63990bfa05ce5155a37f71992c87d7bb5f9a2ea698697ef"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "$PACKAGE" --silent >/dev/null)
tgz=$(ls "$work"/*.tgz)
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || { echo "$PACKAGE: integrity mismatch ($got)" >&2; exit 1; }
tar xzf "$tgz" -C "$work"
echo "$FILE_SHA256  $work/package/dist/chart.umd.js" | sha256sum -c --quiet
cp "$work/package/dist/chart.umd.js" server/static/vendor/chart.umd.js
cp "$work/package/LICENSE.md" server/static/vendor/chart.js.LICENSE.md
echo "server/static/vendor/chart.umd.js: $PACKAGE"
