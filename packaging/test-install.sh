#!/usr/bin/env bash
# test-install.sh DEB: installs a devfence .deb (amd64) into a clean Debian
# bookworm root with dpkg -i in a chroot and checks what an operator gets:
# the binary runs and compiles the example profile, the profile is a
# conffile, the units point at the binary, the man page and completions are
# in place, and removal keeps the operator's profile. Needs root; no kernel
# features (the chroot never touches nftables).
set -euo pipefail
deb=$(realpath "${1:?usage: test-install.sh DEVFENCE.deb}")
here=$(cd "$(dirname "$0")" && pwd)

fail() { echo "test-install: FAIL: $*" >&2; exit 1; }

root=$(mktemp -d "${TMPDIR:-/tmp}/devfence-install.XXXXXX")
trap 'rm -rf "$root"' EXIT
"$here/debian-root.sh" "$root"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

cp "$deb" "$root/tmp/devfence.deb"
in_root dpkg -i /tmp/devfence.deb >/dev/null || fail "dpkg -i $(basename "$deb")"
echo "test-install: installed $(basename "$deb")"

want_version=$(dpkg-deb -f "$deb" Version)
got=$(in_root devfence --version) || fail "devfence --version"
echo "test-install: devfence --version: $got"
case $got in
*"$want_version"*"build tags: nopolicy"*) ;;
*) fail "devfence --version printed \"$got\", want version $want_version and build tags nopolicy" ;;
esac

ruleset=$(in_root devfence compile /etc/devfence/profile.yaml) || fail "devfence compile /etc/devfence/profile.yaml"
[ "$(printf '%s\n' "$ruleset" | head -3)" = $'table inet devfence\ndelete table inet devfence\ntable inet devfence {' ] ||
	fail "compile did not print the replace transaction of table inet devfence: $(printf '%s\n' "$ruleset" | head -3)"
echo "test-install: devfence compile /etc/devfence/profile.yaml: $(printf '%s\n' "$ruleset" | wc -l) lines of nft"

in_root dpkg-query -W -f='${Conffiles}\n' devfence | grep -q '^ /etc/devfence/profile.yaml ' ||
	fail "/etc/devfence/profile.yaml is not a conffile"
for unit in devfence.service devfence-refresh.service devfence-refresh.timer; do
	[ -f "$root/lib/systemd/system/$unit" ] || fail "no $unit"
done
for unit in devfence.service devfence-refresh.service; do
	grep -q '^ExecStart=/usr/sbin/devfence ' "$root/lib/systemd/system/$unit" || fail "$unit does not run /usr/sbin/devfence"
	! grep -q /usr/local/bin "$root/lib/systemd/system/$unit" || fail "$unit still names /usr/local/bin"
done
zcat "$root/usr/share/man/man1/devfence.1.gz" | grep -q '^\.TH devfence 1' || fail "no devfence(1) man page"
in_root bash -n /usr/share/bash-completion/completions/devfence || fail "bash completion does not parse"
grep -q '^#compdef devfence' "$root/usr/share/zsh/vendor-completions/_devfence" || fail "zsh completion lacks #compdef"
[ ! -e "$root/etc/init.d/devfence" ] || fail "the .deb carries the OpenWrt init script"

# An operator's edit survives removal (dpkg keeps conffiles until purge).
echo "# edited" >>"$root/etc/devfence/profile.yaml"
in_root dpkg -r devfence >/dev/null || fail "dpkg -r devfence"
[ ! -e "$root/usr/sbin/devfence" ] || fail "dpkg -r left /usr/sbin/devfence"
tail -1 "$root/etc/devfence/profile.yaml" | grep -q '^# edited$' || fail "dpkg -r lost the edited profile"
echo "test-install: ok"
