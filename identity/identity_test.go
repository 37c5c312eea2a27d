package identity

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func newIssuer(t testing.TB) (*Issuer, *Principal) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	dir := &Directory{Store: st, TenantID: "tenant"}
	is := &Issuer{Dir: dir, Clock: clock.Real{}, TenantID: "tenant", Hosts: []string{"localhost"}, Audiences: []string{"https://localhost:8443"}}
	if err := is.LoadOrCreateKey(ctx, st); err != nil {
		t.Fatal(err)
	}
	var p *Principal
	st.Update(ctx, func(tx store.Tx) error {
		var err error
		p, _, err = dir.CreateServicePrincipal(ctx, tx, "x")
		return err
	})
	return is, p
}

func TestIssueVerify(t *testing.T) {
	is, p := newIssuer(t)
	tok, exp, err := is.Issue(p, "https://localhost:8443", "https://localhost:8443")
	if err != nil || time.Until(exp) < 50*time.Minute {
		t.Fatal(err)
	}
	c, err := is.Verify(context.Background(), tok)
	if err != nil || c.ObjectID != p.ObjectID || c.AppID != p.AppID {
		t.Fatalf("%v %+v", err, c)
	}
	if p.CheckSecret("nope") {
		t.Fatal("wrong secret accepted")
	}
}

func FuzzVerify(f *testing.F) {
	is, p := newIssuer(f)
	tok, _, _ := is.Issue(p, "https://localhost:8443", "https://localhost:8443")
	f.Add(tok)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := is.Verify(context.Background(), s)
		if err == nil && s != tok {
			t.Fatalf("accepted %q as %+v", s, c)
		}
	})
}

// A verified token is served from the cache, but a principal deleted since
// (through the store, as another replica would, without Forget) is refused
// at its next request.
func TestCachedTokenOfDeletedPrincipal(t *testing.T) {
	is, p := newIssuer(t)
	ctx := context.Background()
	tok, _, err := is.Issue(p, "https://localhost:8443", "https://localhost:8443")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second from the cache, its principal's existence from the directory's memory
		if _, err := is.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if is.cache.len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", is.cache.len())
	}
	if err := is.Dir.Store.Update(ctx, func(tx store.Tx) error { return is.Dir.Delete(ctx, tx, p.ObjectID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := is.Verify(ctx, tok); err == nil {
		t.Fatal("token of a deleted principal accepted from the cache")
	}
}

func TestTokenCacheBounded(t *testing.T) {
	var c tokenCache
	now := time.Now()
	for i := range 3 * tokenCacheMax {
		c.put("token-"+strconv.Itoa(i), cachedToken{exp: now.Add(time.Hour)}, now)
		if c.len() > tokenCacheMax {
			t.Fatalf("cache grew to %d entries (max %d)", c.len(), tokenCacheMax)
		}
	}
	last := "token-" + strconv.Itoa(3*tokenCacheMax-1)
	if _, ok := c.get(last, now); !ok {
		t.Fatal("the newest token is not cached")
	}
	if _, ok := c.get(last, now.Add(2*time.Hour)); ok {
		t.Fatal("an expired token is served from the cache")
	}
}
