package arm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

// unreachable is an error that says it passes, as the store's
// ErrUnavailable does.
type unreachable struct{}

func (unreachable) Error() string     { return "dial tcp 10.0.0.9:5432: connection refused" }
func (unreachable) Unavailable() bool { return true }

// TestListedDetailsLogTheCause: a route whose errors list their details
// (deployments, network) logs the error its handler returned, not the
// generic message the client is answered (507 out of space, 503 database
// unavailable): the operator needs the cause.
func TestListedDetailsLogTheCause(t *testing.T) {
	var logs bytes.Buffer
	rt := NewRouter()
	rt.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	rt.RegisterNamespace(Namespace{Name: "Microsoft.Resources", Versions: []string{"2021-04-01"}})
	fail := map[string]error{
		"full":        fmt.Errorf("write /data/safehold.db-wal: %w", syscall.ENOSPC),
		"unavailable": fmt.Errorf("put deployment: %w", unreachable{}),
	}
	rt.Handle("PUT", "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}", func(r *Request) (*Response, error) {
		return nil, fail[r.Param("name")]
	}, ListsDetails())
	rt.Handle("PUT", "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/wrapped/{name}", DetailsListed(func(r *Request) (*Response, error) {
		return nil, fail[r.Param("name")]
	}))
	for _, kind := range []string{"deployments", "wrapped"} {
		for name, status := range map[string]int{"full": 507, "unavailable": 503} {
			logs.Reset()
			rec := httptest.NewRecorder()
			rt.ServeHTTP(rec, httptest.NewRequest("PUT", "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Resources/"+kind+"/"+name+"?api-version=2021-04-01", strings.NewReader("{}")))
			var body struct {
				Error struct {
					Code    string
					Message string
					Details []any
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != status || body.Error.Details == nil {
				t.Fatalf("%s %s: %d %s", kind, name, rec.Code, rec.Body)
			}
			if cause := fail[name].Error(); !strings.Contains(logs.String(), cause) {
				t.Errorf("%s %s: the log does not name the cause %q:\n%s", kind, name, cause, logs.String())
			}
		}
	}
}
