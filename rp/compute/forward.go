package compute

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
)

// forwardARM sends an ARM request this replica cannot serve to the
// replica that owns the disk it is about (ee: alive, with its endpoint)
// and answers what the owner answered. The owner authenticates and
// authorizes the request again (tokens are accepted by every replica); the
// Host the client asked for stays, so the owner's Location and
// Azure-AsyncOperation name it. A request already forwarded once, or a
// replica without forwarding, answers 503 DiskOwnerUnavailable to retry.
func (pr *Provider) forwardARM(r *arm.Request, ee *compute.ErrElsewhere) (*arm.Response, error) {
	fwd := pr.svc.Forward()
	if fwd == nil || r.HTTP.Header.Get(forwardedHeader) != "" || ee.URL == "" {
		return nil, arm.Errorf(http.StatusServiceUnavailable, "DiskOwnerUnavailable", "%s, which did not serve this request; retry it.", ee.Error())
	}
	out := r.HTTP.Clone(r.HTTP.Context())
	out.Header.Set(forwardedHeader, "1")
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(r.Body)), int64(len(r.Body))
	out.Header.Set("Content-Length", strconv.Itoa(len(r.Body)))
	var w bufferedResponse
	fwd(&w, out, ee.URL)
	resp := &arm.Response{Status: w.status}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	for _, k := range []string{"Location", "Azure-AsyncOperation", "Retry-After", "x-ms-error-code"} {
		if v := w.Header().Get(k); v != "" {
			resp.SetHeader(k, v)
		}
	}
	if b := bytes.TrimSpace(w.body.Bytes()); len(b) > 0 {
		if !json.Valid(b) {
			// The forwarder's own failure (the owner did not answer).
			return nil, arm.Errorf(http.StatusServiceUnavailable, "DiskOwnerUnavailable", "%s, which did not answer (%d); retry.", ee.Error(), resp.Status)
		}
		resp.Body = json.RawMessage(b)
	}
	return resp, nil
}

// bufferedResponse is an http.ResponseWriter keeping what it is given.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *bufferedResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
