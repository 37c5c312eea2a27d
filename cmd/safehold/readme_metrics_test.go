package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestREADMEMetrics: every metric README.md's "Metrics, health and logs"
// names is served by /metrics after a backup and a restore (made with the
// CLI), with the labels it documents (and each label value it lists), and
// only the documented safehold_ metrics are.
func TestREADMEMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Metrics, health and logs")
	sec, _, _ = strings.Cut(sec, "\n## ")
	if !ok {
		t.Fatal("README.md lost its metrics section")
	}
	documented := regexp.MustCompile("`(safehold_[a-z_]+)(\\{[^}`]*\\})?`").FindAllStringSubmatch(sec, -1)
	if len(documented) < 10 {
		t.Fatalf("found %d metrics in README.md's metrics section", len(documented))
	}

	e := testserver.Start(t)
	fixture.ProtectDisk(t, e)
	mustRun(t, e, "backup", "now", "data1-bi")
	point := strings.Split(mustRun(t, e, "point", "list", "data1-bi", "-o", "tsv"), "\t")[0]
	mustRun(t, e, "restore", point, "--target-disk", "restored1", "--target-resource-group", "target-rg")
	hc, _ := e.Conn.HTTPClient()
	resp, err := hc.Get(e.Conn.ARMEndpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	series := map[string][]string{} // family: its series' label sets
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		name, labels, _ := strings.Cut(strings.Fields(l)[0], "{")
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			name = strings.TrimSuffix(name, suffix)
		}
		series[name] = append(series[name], "{"+labels)
	}

	named := map[string]bool{}
	for _, d := range documented {
		name, labels := d[1], strings.Trim(d[2], "{}")
		named[name] = true
		sets, ok := series[name]
		if !ok {
			t.Errorf("README.md documents %s; /metrics does not serve it", name)
			continue
		}
		if labels == "" {
			continue
		}
		for _, l := range strings.Split(labels, ",") {
			key, values, hasValues := strings.Cut(l, "=")
			if !hasValues {
				if !anyContains(sets, key+`="`) {
					t.Errorf("README.md gives %s the label %s; /metrics has %v", name, key, sets)
				}
				continue
			}
			for _, v := range strings.Split(values, "|") {
				if !anyContains(sets, key+"="+v) {
					t.Errorf("README.md gives %s the series %s=%s; /metrics has %v", name, key, v, sets)
				}
			}
		}
	}
	for name := range series {
		if strings.HasPrefix(name, "safehold_") && !named[name] {
			t.Errorf("/metrics serves %s, which README.md's metrics section does not document", name)
		}
	}
}

func anyContains(sets []string, s string) bool {
	for _, x := range sets {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}
