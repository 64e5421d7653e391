#!/usr/bin/env bash
# Packages the demo app as one release: OUTDIR/demo-app-VERSION.tar.gz and its .sha256
# (sha256sum format). Usage: package.sh VERSION OUTDIR
set -euo pipefail
version=${1:?usage: package.sh VERSION OUTDIR}
outdir=${2:?usage: package.sh VERSION OUTDIR}
if ! [[ $version =~ ^[0-9A-Za-z][0-9A-Za-z._+-]*$ ]] || [[ $version == *..* ]]; then
  echo "package.sh: '$version' is not a release version (letters, digits, . _ + -)" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$outdir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/src/." "$work/"
# Every changes/V/ with V <= version, oldest first (see changes/README.md).
for change in $(find "$here/changes" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V); do
  if [ "$(printf '%s\n%s\n' "$change" "$version" | sort -V | head -n1)" = "$change" ]; then
    cp -r "$here/changes/$change/." "$work/"
  fi
done
find "$work" -type f -exec sed -i "s/@VERSION@/$version/g" {} +
name="demo-app-$version.tar.gz"
# Fixed owner, order and times: the same version always packs to the same checksum.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00Z' \
  -C "$work" -cf - . | gzip -n > "$outdir/$name"
(cd "$outdir" && sha256sum "$name" > "$name.sha256")
echo "$outdir/$name"
