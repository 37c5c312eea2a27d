package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestStatusWithoutData: on a server that stores nothing, `safehold status`
// shows the dedup ratio as n/a (there is no ratio of no data), not 0.00x.
func TestStatusWithoutData(t *testing.T) {
	e := testserver.Start(t)
	out := mustRun(t, e, "status")
	if !regexp.MustCompile(`DedupRatio\s+│ n/a`).MatchString(out) || strings.Contains(out, "0.00x") {
		t.Fatalf("status of an empty server:\n%s", out)
	}
	if out := mustRun(t, e, "status", "-o", "tsv"); !strings.Contains(out, "n/a") {
		t.Fatalf("status tsv of an empty server:\n%s", out)
	}
}
