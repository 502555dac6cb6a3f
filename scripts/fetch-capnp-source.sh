#!/usr/bin/env bash
# Fetches the Cap'n Proto 0.9.2 source that Debian 12 ships (apt-get source, through a private
# apt configuration so the system's sources are not touched) into third_party/src/.
# Why: Debian's libkj.a uses local-exec TLS and cannot be linked into a shared object, so the
# self-contained libcuda.so.1 (RGPU_STATIC_DEPS=ON) builds kj/capnp from this source with -fPIC.
# Idempotent: does nothing when the tarball is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=third_party/src
tarball=$dest/capnproto_0.9.2.orig.tar.gz
[ -f "$tarball" ] && { echo "rgpu: $tarball present"; exit 0; }
mkdir -p "$dest"
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/etc"
cat >"$state/etc/src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$state/etc"
      -o "Dir::State::Lists=$state/lists" -o "Dir::Cache::srcpkgcache=" -o "Dir::Cache::pkgcache=")
apt-get "${opts[@]}" update -qq
(cd "$dest" && apt-get "${opts[@]}" source --download-only capnproto=0.9.2-2 2>&1 | grep -v "unsandboxed" || true)
[ -f "$tarball" ] || { echo "rgpu: could not fetch the capnproto source with apt-get source" >&2; exit 1; }
echo "rgpu: fetched $tarball"
