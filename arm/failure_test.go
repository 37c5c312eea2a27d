package arm

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/safehold/safehold/failure"
)

// A domain error reaches the wire as a CloudError with its code, its message
// and the status of its kind, through the handler adapter as through As.
func TestDomainErrorsBecomeCloudErrors(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{failure.Invalidf("InvalidParameter", "size %d is too small", 1), http.StatusBadRequest, "InvalidParameter"},
		{failure.NotFoundf("ResourceGroupNotFound", "Resource group '%s' could not be found.", "rg"), http.StatusNotFound, "ResourceGroupNotFound"},
		{fmt.Errorf("attach: %w", failure.Conflictf("OperationNotAllowed", "attached")), http.StatusConflict, "OperationNotAllowed"},
		{failure.New(failure.Unauthenticated, "ExpiredAuthenticationToken", "expired"), http.StatusUnauthorized, "ExpiredAuthenticationToken"},
		{fmt.Errorf("check: %w", failure.New(failure.Forbidden, "AuthorizationFailed", "no")), http.StatusForbidden, "AuthorizationFailed"},
		{BadRequest("X", "wire error as is"), http.StatusBadRequest, "X"},
	} {
		var ae *Error
		if !As(c.err, &ae) || ae.Status != c.status || ae.Code != c.code {
			t.Fatalf("As(%v) = %+v", c.err, ae)
		}
		var fe *failure.Error
		if errors.As(c.err, &fe) && ae.Message != fe.Message {
			t.Fatalf("message %q, want %q", ae.Message, fe.Message)
		}
		rt := NewRouter()
		rt.Handle("GET", "/subscriptions/{subscriptionId}/things", func(r *Request) (*Response, error) { return nil, c.err })
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest("GET", "/subscriptions/s1/things?api-version=2024-01-01", nil))
		if w.Code != c.status || !strings.Contains(w.Body.String(), `"code":"`+c.code+`"`) {
			t.Fatalf("wire: %d %s", w.Code, w.Body)
		}
	}
	var ae *Error
	if As(errors.New("disk full"), &ae) {
		t.Fatal("a plain error became a CloudError")
	}
}

// unavailableErr is an error that passes, as the store's ErrUnavailable.
type unavailableErr struct{}

func (unavailableErr) Error() string     { return "database unavailable" }
func (unavailableErr) Unavailable() bool { return true }

// An error that says it passes (the store's ErrUnavailable: the database
// is out of reach, a statement timed out) is a 503 with Retry-After, never
// a 500.
func TestUnavailableErrorIs503WithRetryAfter(t *testing.T) {
	w := putFailing(fmt.Errorf("put thing: %w: %w", unavailableErr{}, errors.New("statement timeout")))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"code":"ServiceUnavailable"`) {
		t.Fatalf("wire: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// outcomeUnknownErr is an error of a write whose outcome is unknown, as the
// store's ErrOutcomeUnknown.
type outcomeUnknownErr struct{}

func (outcomeUnknownErr) Error() string        { return "commit not answered" }
func (outcomeUnknownErr) OutcomeUnknown() bool { return true }

// A write whose COMMIT was sent but never answered (the store's
// ErrOutcomeUnknown) is a 504 GatewayTimeout without Retry-After that says
// the change may have been made, not a 503 (which says nothing was done
// and to retry).
func TestOutcomeUnknownErrorIs504WithoutRetryAfter(t *testing.T) {
	w := putFailing(fmt.Errorf("put thing: %w: %w", outcomeUnknownErr{}, errors.New("i/o timeout")))
	if w.Code != http.StatusGatewayTimeout || w.Header().Get("Retry-After") != "" || !strings.Contains(w.Body.String(), `"code":"GatewayTimeout"`) || !strings.Contains(w.Body.String(), "may have been") {
		t.Fatalf("wire: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// putFailing is the router's answer to a PUT whose handler fails with err.
func putFailing(err error) *httptest.ResponseRecorder {
	rt := NewRouter()
	rt.Handle("PUT", "/subscriptions/{subscriptionId}/things", func(r *Request) (*Response, error) { return nil, err })
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest("PUT", "/subscriptions/s1/things?api-version=2024-01-01", strings.NewReader("{}")))
	return w
}
