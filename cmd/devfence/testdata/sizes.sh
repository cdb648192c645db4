#!/usr/bin/env bash
# sizes.sh: stripped size (go build -trimpath -ldflags='-s -w') of
# ./cmd/devfence per device target, for the full build and the device build
# (-tags nopolicy), as a markdown table in MB (10^6 bytes). Needs go. See
# docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

targets=("arm GOARM=7" "arm GOARM=5" "arm64" "mipsle GOMIPS=softfloat" "mips GOMIPS=softfloat" "386" "amd64")
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }

echo "| target | full | device (\`-tags nopolicy\`) |"
echo "| --- | ---: | ---: |"
for t in "${targets[@]}"; do
	read -r arch env <<<"$t"
	row="| $arch${env:+ $env}"
	for tags in "" nopolicy; do
		out="$tmp/devfence-$arch-${tags:-full}"
		env GOOS=linux GOARCH="$arch" ${env:+"$env"} CGO_ENABLED=0 \
			go build ${tags:+-tags "$tags"} -trimpath -ldflags='-s -w' -o "$out" ./cmd/devfence
		row="$row | $(mb "$(stat -c %s "$out")")"
	done
	echo "$row |"
done
