package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// armOnly sends a request straight to the ARM handler only where the mux
// would have chosen that handler itself (its "/" pattern, no redirect), and
// the paths ARM clients use take that way.
func TestArmOnlyAgreesWithTheMux(t *testing.T) {
	s, err := New(context.Background(), Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub := "/subscriptions/" + s.Bootstrap.SubscriptionID
	taken := map[string]bool{
		"GET " + sub + "/resourcegroups/rg1":                                       true,
		"PUT " + sub + "/resourceGroups/rg1/providers/Microsoft.Compute/disks/d1":  true,
		"GET " + sub + "/resourcegroups/rg1/":                                      true,
		"GET /providers/Microsoft.Authorization/operations":                        true,
		"GET " + sub + "/resourcegroups/rg.1":                                      true,
		"GET " + sub + "/resourcegroups/%2E%2E":                                    true,
		"GET " + sub + "/resourcegroups/a%2Fb":                                     true,
		"GET " + sub + "/resourcegroups/.hidden":                                   false,
		"GET " + sub + "/resourcegroups/../x":                                      false,
		"GET " + sub + "/./resourcegroups":                                         false,
		"POST /subscriptions/oauth2/v2.0/token":                                    false,
		"POST /subscriptions/oauth2/token":                                         false,
		"GET /subscriptions/discovery/v2.0/keys":                                   false,
		"GET /subscriptions/v2.0/.well-known/openid-configuration":                 false,
		"GET /providers/%6Fauth2/token":                                            false,
		"CONNECT " + sub:                                                           false,
		"GET /healthz":                                                             false,
		"GET /" + s.Bootstrap.TenantID + "/discovery/v2.0/keys":                    false,
		"PUT /sas/disks/x":                                                         false,
		"GET /dashboard/":                                                          false,
		"GET /Subscriptions/" + s.Bootstrap.SubscriptionID + "/resourcegroups/rg1": false,
	}
	for line, want := range taken {
		var method, target string
		for i := range line {
			if line[i] == ' ' {
				method, target = line[:i], line[i+1:]
				break
			}
		}
		r := httptest.NewRequest(method, target, nil)
		if method == http.MethodConnect {
			r = httptest.NewRequest(http.MethodGet, target, nil)
			r.Method = http.MethodConnect
		}
		got := s.armOnly(r)
		if got != want {
			t.Errorf("%s: armOnly = %v, want %v", line, got, want)
		}
		if got { // the mux's choice: the ARM handler, which refuses the request without a token
			h, pattern := s.mux.Handler(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if pattern != "/" || w.Code != http.StatusUnauthorized {
				t.Errorf("%s: armOnly, but the mux would choose %q (status %d)", line, pattern, w.Code)
			}
		}
	}
}
