#!/bin/sh
# device-build.sh OUT: builds the device build of devfence, the binary
# devices run, into OUT, for the GOOS, GOARCH, GOARM or GOMIPS and
# CGO_ENABLED of the environment. EXTRA_LDFLAGS (such as
# "-X main.version=1.2.3") is added to the linker flags. Packages, the
# kernel lab, CI's size check and the apply benchmark all build it here,
# so they measure and ship the same bytes.
#
#   -tags nopolicy         no OPA and no authoring commands
#   -trimpath              no build paths
#   -gcflags=all=-l        no inlining, except in the runtime
#   -gcflags=runtime=      (0.33 MB less on arm and mipsle; apply
#                          of 100,000 elements about 13% slower; inlining
#                          kept in the runtime gives back most of the speed
#                          for 35 KB; docs/BENCHMARKS.md "Size")
#   -ldflags='-s -w'       no symbol table, no DWARF
set -eu
if [ $# -ne 1 ]; then
	echo "usage: $0 OUT" >&2
	exit 2
fi
case $1 in
/*) out=$1 ;;
*) out=$PWD/$1 ;;
esac
cd "$(dirname "$0")/.."
exec go build -tags nopolicy -trimpath -gcflags=all=-l -gcflags=runtime= \
	-ldflags="-s -w${EXTRA_LDFLAGS:+ $EXTRA_LDFLAGS}" -o "$out" ./cmd/devfence
