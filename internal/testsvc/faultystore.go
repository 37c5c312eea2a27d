package testsvc

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// StoreFault is how a FaultyStore answers.
type StoreFault int32

const (
	StoreUp        StoreFault = iota
	Store503                  // every request: 503 ServerBusy
	Store500                  // every request: 500 InternalError
	StoreHangs                // every request hangs until the fault changes
	StoreCutsPuts             // uploads (PUT of more than 1 KiB) lose their connection halfway
	StoreListFails            // listings (comp=list) answer 500, the rest passes
	// StoreCommitsLate: an upload's answer is lost (its connection reset
	// once the body is in) and its object is committed StoreLate later,
	// as by a busy server; meanwhile an upload of the same object (the
	// client's retry) is refused as existing (409 BlobAlreadyExists, as
	// Azure and Azurite refuse one while the first attempt commits).
	StoreCommitsLate
	// StoreFlaky: every other request answers 503 ServerBusy (a store
	// coming back from an outage), the others pass.
	StoreFlaky
)

// StoreLate is how long after its answer was lost a StoreCommitsLate
// upload is committed.
const StoreLate = 3 * time.Second

// FaultyStore is an HTTP proxy in front of a real object store (Azurite,
// the S3 server) that fails the way a cloud object store does, as its
// fault says (Set).
type FaultyStore struct {
	// URL is the endpoint to give the clients: the proxy's, with the
	// store endpoint's path (Azurite's …/devstoreaccount1).
	URL     string
	mode    atomic.Int32
	changed chan struct{}
	mu      sync.Mutex
	failed  atomic.Int64
	flaky   atomic.Int64 // StoreFlaky's requests

	committing map[string]bool // StoreCommitsLate's uploads not yet committed, by path
	late       sync.WaitGroup  // their commits
}

// Set makes the store fail as m says from now on (StoreUp: not at all).
func (f *FaultyStore) Set(m StoreFault) {
	f.mu.Lock()
	f.mode.Store(int32(m))
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// Failed is how many requests the store failed on purpose.
func (f *FaultyStore) Failed() int64 { return f.failed.Load() }

// NewFaultyStore starts a FaultyStore in front of the object store at
// endpoint, up (it stops at the test's cleanup).
func NewFaultyStore(t testing.TB, endpoint string) *FaultyStore {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	f := &FaultyStore{changed: make(chan struct{}), committing: map[string]bool{}}
	target := &url.URL{Scheme: u.Scheme, Host: u.Host}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = nil
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch StoreFault(f.mode.Load()) {
		case Store503:
			f.failed.Add(1)
			w.Header().Set("x-ms-error-code", "ServerBusy")
			http.Error(w, "ServerBusy", http.StatusServiceUnavailable)
			return
		case Store500:
			f.failed.Add(1)
			w.Header().Set("x-ms-error-code", "InternalError")
			http.Error(w, "InternalError", http.StatusInternalServerError)
			return
		case StoreFlaky:
			if f.flaky.Add(1)%2 == 1 {
				f.failed.Add(1)
				w.Header().Set("x-ms-error-code", "ServerBusy")
				http.Error(w, "ServerBusy", http.StatusServiceUnavailable)
				return
			}
		case StoreHangs:
			f.failed.Add(1)
			f.mu.Lock()
			ch := f.changed
			f.mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
		case StoreCutsPuts:
			if r.Method == http.MethodPut && r.ContentLength > 1024 {
				f.failed.Add(1)
				io.CopyN(io.Discard, r.Body, r.ContentLength/2)
				if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
					c.(*net.TCPConn).SetLinger(0) // a reset, as a dropped connection gives
					c.Close()
				}
				return
			}
		case StoreCommitsLate:
			if r.Method == http.MethodPut && r.ContentLength > 0 {
				f.commitLate(w, r, target)
				return
			}
		case StoreListFails:
			if r.URL.Query().Get("comp") == "list" || r.URL.Query().Get("list-type") != "" || r.URL.Query().Get("restype") == "container" && r.Method == http.MethodGet {
				f.failed.Add(1)
				w.Header().Set("x-ms-error-code", "InternalError")
				http.Error(w, "InternalError", http.StatusInternalServerError)
				return
			}
		}
		rp.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { f.Set(StoreUp); srv.Close(); f.late.Wait() })
	f.URL = "http://" + ln.Addr().String() + u.Path
	return f
}

// commitLate answers an upload as StoreCommitsLate says.
func (f *FaultyStore) commitLate(w http.ResponseWriter, r *http.Request, target *url.URL) {
	f.failed.Add(1)
	f.mu.Lock()
	if f.committing[r.URL.Path] {
		f.mu.Unlock()
		w.Header().Set("x-ms-error-code", "BlobAlreadyExists")
		http.Error(w, "BlobAlreadyExists", http.StatusConflict)
		return
	}
	f.committing[r.URL.Path] = true
	f.late.Add(1)
	f.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	out := r.Clone(context.Background())
	out.URL.Scheme, out.URL.Host, out.RequestURI = target.Scheme, target.Host, ""
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	go func() {
		defer f.late.Done()
		defer func() { f.mu.Lock(); delete(f.committing, r.URL.Path); f.mu.Unlock() }()
		if err != nil {
			return
		}
		time.Sleep(StoreLate)
		if resp, err := http.DefaultTransport.RoundTrip(out); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.(*net.TCPConn).SetLinger(0) // the answer lost: a reset
		c.Close()
	}
}
