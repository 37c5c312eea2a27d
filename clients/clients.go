// Package clients holds the tests that drive Safehold with real non-Go
// clients: Debian's az CLI (az backup) and the JavaScript SDK from npm.
// .ci/run installs them (.ci/clients.sh); outside CI a test whose client is
// missing skips, inside CI (CI=true) it fails.
package clients
