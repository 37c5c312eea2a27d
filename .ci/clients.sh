# Sourced by .ci/run: installs the non-Go clients the contract tests drive
# when they are missing — Debian's azure-cli (az backup is built in) and the
# npm packages of the JavaScript SDK (into .cache/npm, reused across runs).
# Each step only warns on failure; the tests that need a client skip when it
# is absent outside CI and fail inside CI (CI=true).

safehold_install_azcli() {
	command -v az >/dev/null 2>&1 && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "warning: az missing and not root; az CLI tests will skip" >&2
		return 0
	fi
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends azure-cli) >/dev/null 2>&1 ||
		echo "warning: could not install azure-cli" >&2
}

safehold_install_azcli

# The JavaScript SDK packages the JS test uses, at the majors the contract
# names (exact versions), installed once into a cache directory outside the clone (reused by
# later runs on the same machine); clients/clients_test.go finds it through
# SAFEHOLD_NPM_DIR.
export SAFEHOLD_NPM_DIR="${SAFEHOLD_NPM_DIR:-$HOME/.cache/safehold/npm}"
# Older majors go in under npm aliases (arm-recoveryservicesbackup-9, ...),
# which clients/testdata/js/recoveryservices.cjs requires by name.
safehold_npm_packages="@azure/identity@4.13.1 @azure/core-client@1.10.2 @azure/core-rest-pipeline@1.24.0 @azure/arm-resources@5.2.0 @azure/arm-compute@24.1.0 @azure/arm-authorization@9.0.0 @azure/arm-recoveryservices@6.0.0 @azure/arm-recoveryservicesbackup@12.0.0 @azure/arm-storage@21.0.0 @azure/arm-locks@2.1.0"
safehold_npm_packages="$safehold_npm_packages arm-recoveryservicesbackup-9@npm:@azure/arm-recoveryservicesbackup@9.0.0 arm-recoveryservices-5@npm:@azure/arm-recoveryservices@5.4.0 arm-compute-22@npm:@azure/arm-compute@22.4.0 arm-authorization-8@npm:@azure/arm-authorization@8.4.1 arm-storage-18@npm:@azure/arm-storage@18.6.0"
# The newest majors, of the TypeSpec generator (modular clients), under aliases too.
safehold_npm_packages="$safehold_npm_packages arm-compute-25@npm:@azure/arm-compute@25.1.1 arm-recoveryservices-7@npm:@azure/arm-recoveryservices@7.2.0"

safehold_install_npm() {
	command -v npm >/dev/null 2>&1 || {
		if [ "$(id -u)" = 0 ]; then
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm) >/dev/null 2>&1 ||
				echo "warning: could not install nodejs/npm" >&2
		fi
	}
	command -v npm >/dev/null 2>&1 || return 0
	mkdir -p "$SAFEHOLD_NPM_DIR"
	local stamp="$SAFEHOLD_NPM_DIR/.installed"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$safehold_npm_packages" ]; then
		return 0
	fi
	[ -f "$SAFEHOLD_NPM_DIR/package.json" ] || echo '{"name":"safehold-js-clients","private":true}' >"$SAFEHOLD_NPM_DIR/package.json"
	# shellcheck disable=SC2086
	if (cd "$SAFEHOLD_NPM_DIR" && npm install --no-audit --no-fund --loglevel=error $safehold_npm_packages) >/dev/null 2>&1; then
		echo "$safehold_npm_packages" >"$stamp"
	else
		echo "warning: could not install the JavaScript SDK packages" >&2
	fi
}

safehold_install_npm
