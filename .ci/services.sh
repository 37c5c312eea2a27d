# Sourced by .ci/run (and usable by hand: `source .ci/services.sh`): starts the
# services the scale-out tests need, on loopback ports, in throw-away
# directories, and exports their addresses:
#   SAFEHOLD_TEST_PG       PostgreSQL 15 (Debian's initdb + pg_ctl, as user postgres)
#   SAFEHOLD_TEST_AZURITE  Azurite's blob service (npm azurite, installed into the cache)
#   SAFEHOLD_TEST_S3       versitygw with its posix backend (go install, into the cache)
# Installs what is missing (apt for PostgreSQL, npm for Azurite, the Go module
# proxy for versitygw) into ${SAFEHOLD_CACHE:-~/.cache/safehold}.
# They stop when the shell that sourced this file exits (an EXIT trap; .ci/run
# sets the same), or earlier with safehold_stop_services.
# A service that cannot start is reported; the tests then fail under CI=true
# and skip otherwise (internal/testsvc).

SAFEHOLD_CACHE=${SAFEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/safehold}
export SAFEHOLD_CACHE
_svc_dir=$(mktemp -d /tmp/safehold-svc.XXXXXX)
_svc_pids=()
_svc_pgbin=""

_svc_port() { # a free loopback port below the kernel's ephemeral range
	# (ip_local_port_range, 32768 by default), from which every listen on
	# port 0 and every outgoing connection on the machine takes its port:
	# one from there could be taken before the service listens on it
	# (testsvc.FreePort picks its ports the same way).
	local p lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 12000 ] || lo=32768
	while :; do
		p=$((10000 + RANDOM % (lo - 10000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

_svc_wait() { # host port seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

safehold_stop_services() {
	local p
	for p in "${_svc_pids[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$_svc_pgbin" ]; then
		runuser -u postgres -- "$_svc_pgbin/pg_ctl" -D "$_svc_dir/pg/data" -m immediate -w stop >/dev/null 2>&1 ||
			"$_svc_pgbin/pg_ctl" -D "$_svc_dir/pg/data" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$_svc_dir"
}

_svc_start_pg() {
	local bin
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	if [ -z "$bin" ] && [ "$(id -u)" = 0 ]; then
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15) >/dev/null 2>&1
		bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	fi
	[ -x "$bin/initdb" ] || { echo "services: no PostgreSQL server binaries" >&2; return 1; }
	local port as=()
	port=$(_svc_port)
	mkdir -p "$_svc_dir/pg"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$_svc_dir/pg"
		chmod 755 "$_svc_dir"
		as=(runuser -u postgres --)
	fi
	"${as[@]}" "$bin/initdb" -D "$_svc_dir/pg/data" -U postgres -A trust -E UTF8 --no-sync >"$_svc_dir/pg-initdb.log" 2>&1 || {
		cat "$_svc_dir/pg-initdb.log" >&2
		return 1
	}
	"${as[@]}" "$bin/pg_ctl" -D "$_svc_dir/pg/data" -l "$_svc_dir/pg/log" -w -t 30 -o \
		"-c listen_addresses=127.0.0.1 -p $port -k $_svc_dir/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
		start >/dev/null || { cat "$_svc_dir/pg/log" >&2; return 1; }
	_svc_pgbin=$bin
	export SAFEHOLD_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

_svc_start_azurite() {
	local bin=$SAFEHOLD_CACHE/azurite/node_modules/.bin/azurite-blob
	if [ ! -x "$bin" ]; then
		command -v npm >/dev/null || { echo "services: npm missing, cannot install Azurite" >&2; return 1; }
		mkdir -p "$SAFEHOLD_CACHE/azurite"
		npm install --no-audit --no-fund --loglevel=error --prefix "$SAFEHOLD_CACHE/azurite" azurite@3.37.0 >"$_svc_dir/npm.log" 2>&1 || {
			tail -20 "$_svc_dir/npm.log" >&2
			return 1
		}
	fi
	local port
	port=$(_svc_port)
	mkdir -p "$_svc_dir/azurite"
	"$bin" --blobHost 127.0.0.1 --blobPort "$port" --loose --skipApiVersionCheck --inMemoryPersistence \
		--extentMemoryLimit 4096 --silent >"$_svc_dir/azurite.log" 2>&1 &
	_svc_pids+=($!)
	_svc_wait 127.0.0.1 "$port" 60 || { cat "$_svc_dir/azurite.log" >&2; return 1; }
	export SAFEHOLD_TEST_AZURITE="http://127.0.0.1:$port/devstoreaccount1"
}

_svc_start_s3() {
	local bin=$SAFEHOLD_CACHE/bin/versitygw
	if [ ! -x "$bin" ]; then
		GOBIN=$SAFEHOLD_CACHE/bin GOFLAGS=-mod=mod go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 >"$_svc_dir/vgw-build.log" 2>&1 || {
			tail -20 "$_svc_dir/vgw-build.log" >&2
			return 1
		}
	fi
	local port
	port=$(_svc_port)
	mkdir -p "$_svc_dir/s3"
	"$bin" --access safehold --secret safehold-secret --port "127.0.0.1:$port" posix "$_svc_dir/s3" >"$_svc_dir/s3.log" 2>&1 &
	_svc_pids+=($!)
	_svc_wait 127.0.0.1 "$port" 30 || { cat "$_svc_dir/s3.log" >&2; return 1; }
	export SAFEHOLD_TEST_S3="http://safehold:safehold-secret@127.0.0.1:$port"
}

trap safehold_stop_services EXIT
_svc_t0=$SECONDS
_svc_start_pg || echo "services: PostgreSQL did not start" >&2
_svc_start_azurite || echo "services: Azurite did not start" >&2
_svc_start_s3 || echo "services: the S3 server did not start" >&2
echo "services: PostgreSQL ${SAFEHOLD_TEST_PG:+up}, Azurite ${SAFEHOLD_TEST_AZURITE:+up}, S3 ${SAFEHOLD_TEST_S3:+up} ($((SECONDS - _svc_t0)) s)"
