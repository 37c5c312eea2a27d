package storage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/safehold/safehold/arm/blobwire"
)

// A Shared Key request is good for 15 minutes either way of its date: a
// replay of a correctly signed request from long ago is 403
// AuthenticationFailed, as is one with no date at all.
func TestSharedKeyDate(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	acct := &Account{Keys: []Key{{KeyName: "key1", Value: key}}}
	try := func(date string) error {
		r := httptest.NewRequest("GET", "https://127.0.0.1/storage/blob/acct1/c1?restype=container&comp=list", nil)
		if date != "" {
			r.Header.Set("x-ms-date", date)
		}
		r.Header.Set("x-ms-version", blobwire.Version)
		k, _ := base64.StdEncoding.DecodeString(key)
		m := hmac.New(sha256.New, k)
		m.Write([]byte(sharedKeyString(r, "acct1")))
		r.Header.Set("Authorization", "SharedKey acct1:"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
		return authorize(&blobReq{r: r, account: "acct1", container: "c1", acct: acct}, "l", "c", time.Now())
	}
	if err := try(time.Now().UTC().Format(http.TimeFormat)); err != nil {
		t.Fatalf("a request of now: %v", err)
	}
	for _, date := range []string{time.Now().Add(-20 * time.Minute).UTC().Format(http.TimeFormat), time.Now().Add(20 * time.Minute).UTC().Format(http.TimeFormat), ""} {
		err := try(date)
		if we, ok := err.(*blobwire.Error); !ok || we.Status != 403 || we.Code != "AuthenticationFailed" {
			t.Fatalf("a request dated %q: %v", date, err)
		}
	}
}
