package identity

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
)

func newIssuer(t testing.TB) (*Issuer, *Principal) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := &Directory{Store: st, TenantID: "tenant"}
	is := &Issuer{Dir: dir, Clock: clock.Real{}, TenantID: "tenant", Hosts: []string{"localhost"}, Audiences: []string{"https://localhost:8443"}}
	if err := is.LoadOrCreateKey(ctx, st); err != nil {
		t.Fatal(err)
	}
	var p *Principal
	st.Update(ctx, func(tx store.Tx) error {
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
