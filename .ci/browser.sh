# Sourced by .ci/run: what the dashboard's browser test (web/browser_test.go)
# needs. Debian's chromium (apt-get when missing) and playwright-core from
# npm, pinned, installed into a cache dir (never `npx playwright install`:
# the test drives /usr/bin/chromium). Exports SAFEHOLD_PLAYWRIGHT_DIR. Under
# CI=true the test fails rather than skips when something is missing.
PLAYWRIGHT_CORE_VERSION=1.65.1

browser_need=()
command -v chromium >/dev/null 2>&1 || browser_need+=(chromium)
command -v node >/dev/null 2>&1 || browser_need+=(nodejs)
command -v npm >/dev/null 2>&1 || browser_need+=(npm)
if [ ${#browser_need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${browser_need[@]}") >/dev/null 2>&1 ||
			echo "warning: could not install ${browser_need[*]}; the dashboard browser test cannot run" >&2
	else
		echo "warning: ${browser_need[*]} missing and not root; the dashboard browser test cannot run" >&2
	fi
fi

SAFEHOLD_PLAYWRIGHT_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/safehold/playwright-core-$PLAYWRIGHT_CORE_VERSION"
if [ ! -f "$SAFEHOLD_PLAYWRIGHT_DIR/node_modules/playwright-core/package.json" ] && command -v npm >/dev/null 2>&1; then
	mkdir -p "$SAFEHOLD_PLAYWRIGHT_DIR"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --no-save --prefix "$SAFEHOLD_PLAYWRIGHT_DIR" \
		"playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null 2>&1 ||
		echo "warning: npm could not install playwright-core@$PLAYWRIGHT_CORE_VERSION; the dashboard browser test cannot run" >&2
fi
export SAFEHOLD_PLAYWRIGHT_DIR
unset browser_need
