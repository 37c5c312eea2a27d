// Package fault holds fault-injection rules: operators (through the admin
// API and `safehold fault add`) make chosen operations fail with an error
// code or slow down, for the next N matches or a percentage of them, to
// test how their automation copes. Injected failures travel the same paths
// as real ones: a backup job ends Failed with the rule's code, a
// long-running operation ends Failed, an ARM request is answered with the
// rule's status and code.
package fault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Operations a rule can target.
const (
	OpBackup   = "backup"   // backup jobs (ad hoc and scheduled), both vault kinds
	OpRestore  = "restore"  // restore jobs, both vault kinds
	OpValidate = "validate" // validateForBackup / validateRestore
	OpDelete   = "delete"   // deleting a Recovery Services protected item and its backup data
	OpTransfer = "transfer" // a Recovery Services backup's vault transfer, between two of its disks
	OpARM      = "arm"      // any ARM request, by method and path pattern
	OpDisk     = "disk"     // the disk data plane (SAS page-blob requests)
)

// Methods are the HTTP methods an arm or disk rule may be limited to: those
// the server answers (a rule of another would never match).
var Methods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}

// Ops lists the operations in the order help texts show them.
var Ops = []string{OpBackup, OpRestore, OpValidate, OpDelete, OpTransfer, OpARM, OpDisk}

// Rule is one fault rule.
type Rule struct {
	Name      string `json:"name"`
	Operation string `json:"operation"`
	// Method limits arm and disk rules to one HTTP method ("" any).
	Method string `json:"method,omitempty"`
	// Path is a case-insensitive pattern the request path (arm, disk), the
	// item id (backup, restore, validateRestore, delete, transfer) or the disk id
	// (validateForBackup) must match; '*' matches any run of characters,
	// '/' included. "" matches everything.
	Path string `json:"path,omitempty"`
	// Status is the HTTP status of an injected error (arm, disk; default
	// 500, or 400 for backup/restore/validate operations' ARM answers).
	Status int `json:"status,omitempty"`
	// Code and Message make matches fail; with Latency alone they are only slowed.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Latency delays each match (Go duration, e.g. 2s).
	Latency string `json:"latency,omitempty"`
	// Count limits the rule to the next N matches (0: no limit).
	Count int `json:"count,omitempty"`
	// Percent of matches the rule applies to (0 or 100: all).
	Percent float64 `json:"percent,omitempty"`
	// Hits counts the matches the rule applied to.
	Hits    int       `json:"hits"`
	Created time.Time `json:"created"`

	latency time.Duration
	// released is closed when the rule is deleted (or replaced, or the
	// rules cleared): the matches it still holds stop waiting.
	released chan struct{}
	// spent: its Count is used up while matches it delays still wait
	// (holding of them); it matches no more, and goes once they end, so
	// that deleting it (or clearing the rules) releases them meanwhile.
	spent   bool
	holding int
}

// Error is an injected failure.
type Error struct {
	Status  int
	Code    string
	Message string
	Rule    string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Set is the server's rule set; the zero value is empty and ready.
type Set struct {
	mu    sync.Mutex
	rules []*Rule
	n     atomic.Int32 // len(rules), read without mu: while there are none (the usual case) a request takes no lock
}

// setRules replaces the rules (s.mu held).
func (s *Set) setRules(rules []*Rule) {
	s.rules = rules
	s.n.Store(int32(len(rules)))
}

// ruleName is what a rule may be called: a name that `DELETE
// .../faultRules/{name}` can address (no '/', '..' or '%').
var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)

// Validate checks and normalizes a rule.
func Validate(r *Rule) error {
	if r.Name != "" && !ruleName.MatchString(r.Name) {
		return fmt.Errorf("name %q is not a rule name: use up to 80 letters, digits, '-', '_' and '.', starting with a letter or digit (safehold fault clear NAME addresses it in a URL path)", r.Name)
	}
	r.Operation = strings.ToLower(strings.TrimSpace(r.Operation))
	ok := false
	for _, o := range Ops {
		ok = ok || o == r.Operation
	}
	if !ok {
		return fmt.Errorf("operation %q is not one of %s", r.Operation, strings.Join(Ops, ", "))
	}
	r.Method = strings.ToUpper(strings.TrimSpace(r.Method))
	if r.Method != "" && r.Operation != OpARM && r.Operation != OpDisk {
		return fmt.Errorf("method applies only to arm and disk rules")
	}
	if r.Method != "" && !slices.Contains(Methods, r.Method) {
		return fmt.Errorf("method %q is not one of %s (or none: any method)", r.Method, strings.Join(Methods, ", "))
	}
	if r.Latency != "" {
		d, err := time.ParseDuration(r.Latency)
		if err != nil || d < 0 || d > 10*time.Minute {
			return fmt.Errorf("latency %q is not a Go duration between 0 and 10m (e.g. 2s)", r.Latency)
		}
		r.latency = d
	}
	if r.Code == "" && r.latency == 0 {
		return fmt.Errorf("a rule needs an error code, a latency or both")
	}
	if r.Code == "" && (r.Message != "" || r.Status != 0) {
		return fmt.Errorf("message and status need an error code")
	}
	if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
		return fmt.Errorf("status %d is not an HTTP error status (400-599)", r.Status)
	}
	if r.Count < 0 {
		return fmt.Errorf("count %d is negative", r.Count)
	}
	if r.Percent < 0 || r.Percent > 100 {
		return fmt.Errorf("percent %g is not between 0 and 100", r.Percent)
	}
	if r.Code != "" && r.Message == "" {
		r.Message = "Safehold fault injection: " + r.Operation + " failed as a fault rule asked."
	}
	if r.Code != "" && r.Status == 0 {
		r.Status = http.StatusInternalServerError
		if r.Operation == OpBackup || r.Operation == OpRestore || r.Operation == OpValidate || r.Operation == OpDelete || r.Operation == OpTransfer {
			r.Status = http.StatusBadRequest
		}
	}
	return nil
}

// Add validates r and adds it (Name assigned when empty; an existing rule
// of that name is replaced).
func (s *Set) Add(r Rule, now time.Time) (Rule, error) {
	if err := Validate(&r); err != nil {
		return Rule{}, err
	}
	if r.Name == "" {
		r.Name = uuid.NewString()[:8]
	}
	r.Hits, r.Created, r.released = 0, now, make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.rules {
		if strings.EqualFold(x.Name, r.Name) {
			close(x.released)
			s.setRules(append(s.rules[:i], s.rules[i+1:]...))
			break
		}
	}
	s.setRules(append(s.rules, &r))
	return r, nil
}

// List returns the rules, oldest first.
func (s *Set) List() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rule, 0, len(s.rules))
	for _, r := range s.rules {
		out = append(out, *r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Delete removes a rule and releases the matches its latency still holds;
// false if none had that name.
func (s *Set) Delete(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.rules {
		if strings.EqualFold(x.Name, name) {
			close(x.released)
			s.setRules(append(s.rules[:i], s.rules[i+1:]...))
			return true
		}
	}
	return false
}

// Clear removes every rule and returns how many there were.
func (s *Set) Clear() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.rules)
	for _, x := range s.rules {
		close(x.released)
	}
	s.setRules(nil)
	return n
}

// Match finds the first rule for op that applies to method and target (a
// request path or an item id), counts the hit and returns what to do:
// a latency to wait and an error to return (either may be zero). A rule
// whose Count is used up is removed.
func (s *Set) Match(op, method, target string) (time.Duration, *Error) {
	d, e, _, _ := s.match(op, method, target, false)
	return d, e
}

// match is Match with the channel closed when the rule is deleted and,
// when hold and the rule delays, the rule, whose wait the caller ends
// with unhold (a rule used up stays, matching no more, until then).
func (s *Set) match(op, method, target string, hold bool) (time.Duration, *Error, <-chan struct{}, *Rule) {
	if s == nil || s.n.Load() == 0 {
		return 0, nil, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rules {
		if r.spent || r.Operation != op || (r.Method != "" && !strings.EqualFold(r.Method, method)) || !Glob(r.Path, target) {
			continue
		}
		if r.Percent > 0 && r.Percent < 100 && rand.Float64()*100 >= r.Percent {
			continue
		}
		r.Hits++
		held := hold && r.latency > 0
		if held {
			r.holding++
		}
		if r.Count > 0 && r.Hits >= r.Count {
			if held {
				r.spent = true // goes at unhold, its waits released by a delete meanwhile
			} else {
				s.setRules(append(s.rules[:i], s.rules[i+1:]...))
			}
		}
		var e *Error
		if r.Code != "" {
			e = &Error{Status: r.Status, Code: r.Code, Message: r.Message, Rule: r.Name}
		}
		var h *Rule
		if held {
			h = r
		}
		return r.latency, e, r.released, h
	}
	return 0, nil, nil, nil
}

// unhold ends a wait match began on r: a rule used up goes with its last
// wait (unless deleted meanwhile).
func (s *Set) unhold(r *Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.holding--
	if !r.spent || r.holding > 0 {
		return
	}
	for i, x := range s.rules {
		if x == r {
			s.setRules(append(s.rules[:i], s.rules[i+1:]...))
			return
		}
	}
}

// Apply is Match followed by the wait: it sleeps the rule's latency (until
// ctx ends, or until the rule is deleted: deleting a rule releases what it
// holds, which then goes on without the rule's error) and returns the
// injected error, nil when none.
func (s *Set) Apply(ctx context.Context, op, method, target string) error {
	d, e, released, held := s.match(op, method, target, true)
	if held != nil {
		defer s.unhold(held)
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-released:
			t.Stop()
			return nil
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if e == nil {
		return nil
	}
	return e
}

// Glob matches s against a case-insensitive pattern where '*' matches any
// run of characters ('/' included) and '?' one character; "" and "*" match
// everything.
func Glob(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	return globAny(strings.ToLower(pattern), strings.ToLower(s))
}

func globAny(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globAny(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}
