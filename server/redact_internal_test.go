package server

import "testing"

// The access log's query redaction: SAS signatures in any case, and a query
// without one unchanged.
func TestRedactQuery(t *testing.T) {
	for in, want := range map[string]string{
		"api-version=2021-04-01": "api-version=2021-04-01",
		"sv=1&sig=abc%2F&se=2":   "sv=1&sig=REDACTED&se=2",
		"SIG=abc":                "SIG=REDACTED",
		"x=1&Sig=abc":            "x=1&Sig=REDACTED",
		"design=1":               "design=1",
		"":                       "",
	} {
		if got := redactQuery(in); got != want {
			t.Errorf("redactQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
