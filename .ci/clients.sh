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
