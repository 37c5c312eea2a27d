#!/usr/bin/env bash
# Runs every check and test. Installs the Debian packages the tests use
# (NBD clients, qemu-img) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-io >/dev/null 2>&1 || need+=(qemu-utils)
command -v nbdinfo >/dev/null 2>&1 || need+=(libnbd-bin)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 ||
			echo "warning: could not install ${need[*]}; NBD client tests will skip" >&2
	else
		echo "warning: ${need[*]} missing and not root; NBD client tests will skip" >&2
	fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 45m ./... 2>&1 | tee /tmp/safehold-test.log
