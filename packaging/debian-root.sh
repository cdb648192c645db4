#!/usr/bin/env bash
# debian-root.sh DIR: makes DIR a fresh copy of a minimal Debian bookworm
# root for the package install test. The debootstrap root is built once and
# cached (DEVFENCE_DEBOOTSTRAP_CACHE, default /var/cache/devfence-debootstrap)
# as a tarball, so later runs only unpack it. The mirror is the host's.
set -euo pipefail
dest=${1:?usage: debian-root.sh DIR}
cache=${DEVFENCE_DEBOOTSTRAP_CACHE:-/var/cache/devfence-debootstrap}
suite=bookworm
arch=$(dpkg --print-architecture)
tarball=$cache/$suite-$arch-minbase.tar

mirror() {
	# The host's bookworm mirror (deb822 or one-line sources), else Debian's.
	local uri
	uri=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "'$suite'" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	echo "${uri:-http://deb.debian.org/debian}"
}

if [ ! -s "$tarball" ]; then
	command -v debootstrap >/dev/null || {
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap </dev/null
	}
	mkdir -p "$cache"
	work=$(mktemp -d "$cache/.root.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	debootstrap --variant=minbase "$suite" "$work/root" "$(mirror)" >"$work/log" 2>&1 || {
		tail -20 "$work/log"; exit 1
	}
	tar -C "$work/root" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
fi
mkdir -p "$dest"
tar -C "$dest" -xf "$tarball"
