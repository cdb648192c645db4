#!/usr/bin/env bash
# sizes.sh: stripped size of ./cmd/devfence per device target, for the full
# build (go build -trimpath -ldflags='-s -w') and the device build
# (packaging/device-build.sh), as a markdown table in MB (10^6 bytes) and,
# for the device build, bytes. Needs go. See docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

targets=("arm GOARM=7" "arm GOARM=5" "arm64" "mipsle GOMIPS=softfloat" "mips GOMIPS=softfloat" "386" "amd64")
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }

echo "| target | full | device (\`packaging/device-build.sh\`) | device, bytes |"
echo "| --- | ---: | ---: | ---: |"
for t in "${targets[@]}"; do
	read -r arch env <<<"$t"
	export GOOS=linux GOARCH="$arch" CGO_ENABLED=0 GOARM= GOMIPS=
	[ -n "${env:-}" ] && export "${env?}"
	go build -trimpath -ldflags='-s -w' -o "$tmp/full" ./cmd/devfence
	packaging/device-build.sh "$tmp/device"
	full=$(stat -c %s "$tmp/full") device=$(stat -c %s "$tmp/device")
	echo "| $arch${env:+ $env} | $(mb "$full") | $(mb "$device") | $device |"
done
