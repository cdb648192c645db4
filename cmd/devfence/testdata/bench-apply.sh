#!/usr/bin/env bash
# bench-apply.sh [N] [RUNS]: whole-process `devfence apply` of a profile with
# N network entries (default 100000) against `nft -f` of its compiled text,
# each into an empty network namespace, RUNS times (default 5), interleaved;
# prints the medians of wall time and peak RSS (/usr/bin/time) and their
# ratios. DEVICE=1 measures the device build (packaging/device-build.sh),
# TAGS=... a build with those tags. Needs root, nft, ip and go. The profile
# is examples/baby-monitor.yaml plus a network "big" of N addresses
# (10.0.0.1, 10.0.0.3, ...) that egress.allow cloud-api may reach, the same
# file BenchmarkApplyVsNft writes. See docs/BENCHMARKS.md.
set -euo pipefail
n=${1:-100000}
runs=${2:-5}
cd "$(dirname "$0")/../../.."

tmp=$(mktemp -d)
nsa=dfbench-apply-$$ nsb=dfbench-nft-$$
cleanup() { ip netns del "$nsa" 2>/dev/null || true; ip netns del "$nsb" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
ip netns add "$nsa"
ip netns add "$nsb"

if [ -n "${DEVICE:-}" ]; then
	packaging/device-build.sh "$tmp/devfence"
else
	go build ${TAGS:+-tags "$TAGS"} -o "$tmp/devfence" ./cmd/devfence
fi
awk -v n="$n" '
	{ print prev_is_api && $0 == "      to: [vendor-cloud]" ? "      to: [vendor-cloud, big]" : $0 }
	$0 == "networks:" {
		print "  big:"
		for (i = 0; i < n; i++) {
			a = 167772160 + 2 * i + 1
			printf "    - %d.%d.%d.%d\n", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256
		}
	}
	{ prev_is_api = ($0 == "    - name: cloud-api") }
' examples/baby-monitor.yaml >"$tmp/big.yaml"
max=--max-size=16777216
"$tmp/devfence" compile "$max" "$tmp/big.yaml" >"$tmp/big.nft"

# run FILE CMD...: runs CMD under /usr/bin/time, appending "seconds kbytes".
run() { local out=$1; shift; /usr/bin/time -f '%e %M' -a -o "$out" "$@" >/dev/null 2>&1; }
for ((i = 0; i < runs; i++)); do
	ip netns exec "$nsa" nft delete table inet devfence 2>/dev/null || true
	ip netns exec "$nsb" nft delete table inet devfence 2>/dev/null || true
	rm -rf "$tmp/state"
	run "$tmp/dev.times" "$tmp/devfence" apply --netns "$nsa" --state-dir "$tmp/state" "$max" "$tmp/big.yaml"
	run "$tmp/nft.times" ip netns exec "$nsb" nft -f "$tmp/big.nft"
done
median() { sort -n | sed -n "$(((runs + 1) / 2))p"; }
dw=$(cut -d' ' -f1 "$tmp/dev.times" | median) dm=$(cut -d' ' -f2 "$tmp/dev.times" | median)
fw=$(cut -d' ' -f1 "$tmp/nft.times" | median) fm=$(cut -d' ' -f2 "$tmp/nft.times" | median)
echo "N=$n runs=$runs"
echo "devfence apply: wall $dw s, peak RSS $dm KiB (medians)"
echo "nft -f:         wall $fw s, peak RSS $fm KiB (medians)"
awk -v dw="$dw" -v fw="$fw" -v dm="$dm" -v fm="$fm" 'BEGIN { printf "ratio devfence/nft: wall %.2f, peak RSS %.2f\n", dw / fw, dm / fm }'
