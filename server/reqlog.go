package server

import (
	"bytes"
	"encoding/json"
	rpstorage "github.com/safehold/safehold/rp/storage"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// routeLabel is the metrics label of a request: the ARM route pattern the
// router matched, else a fixed name for the other endpoints (never the raw
// path, whose names and ids would make the label set unbounded).
func routeLabel(pattern, path string) string {
	if pattern != "" {
		return pattern
	}
	p := strings.ToLower(path)
	switch {
	case p == "/healthz" || p == "/metrics" || p == "/metadata/endpoints":
		return p
	case p == "/dashboard" || strings.HasPrefix(p, "/dashboard/"):
		return "/dashboard/*"
	case strings.HasPrefix(p, "/sas/disks/"):
		return "/sas/disks/*"
	case strings.HasPrefix(p, rpstorage.BlobPrefix):
		return rpstorage.BlobPrefix + "*"
	case strings.Contains(p, "/oauth2/"):
		return "token"
	case strings.Contains(p, "/.well-known/") || strings.Contains(p, "/discovery/"):
		return "identity-metadata"
	}
	return "unmatched"
}

const reqLogMax = 64 << 10 // body bytes kept per direction

// reqLog captures a request's and its response's bodies for --log-requests.
type reqLog struct {
	req  []byte
	resp *capture
	skip bool
}

type capture struct {
	buf bytes.Buffer
}

func (c *capture) add(b []byte) {
	if n := reqLogMax - c.buf.Len(); n > 0 {
		c.buf.Write(b[:min(n, len(b))])
	}
}

// startReqLog reads (and restores) the request body and tees the response.
// The data planes (disks' /sas/, the storage accounts' blobs) move raw
// bytes: their bodies are not kept.
func startReqLog(r *http.Request, sw *statusWriter) *reqLog {
	rl := &reqLog{resp: &capture{}}
	if p := strings.ToLower(r.URL.Path); strings.HasPrefix(p, "/sas/") || strings.HasPrefix(p, rpstorage.BlobPrefix) {
		rl.skip = true
		return rl
	}
	if r.Body != nil && r.Body != http.NoBody {
		b, _ := io.ReadAll(io.LimitReader(r.Body, reqLogMax))
		rest := r.Body
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), rest), rest}
		rl.req = b
	}
	sw.tee = rl.resp.add
	return rl
}

func (rl *reqLog) log(l *slog.Logger, r *http.Request, status int, reqID string) {
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("query", redactQuery(r.URL.RawQuery)), slog.Int("status", status), slog.String("request_id", reqID)}
	if !rl.skip {
		attrs = append(attrs, slog.String("request_body", redactBody(rl.req, r.Header.Get("Content-Type"))),
			slog.String("response_body", redactBody(rl.resp.buf.Bytes(), "")))
	}
	l.LogAttrs(r.Context(), slog.LevelDebug, "request body", attrs...)
}

// secretKey names JSON fields and form fields whose values are secrets.
var secretKey = regexp.MustCompile(`(?i)(secret|password|token|assertion|credential|accesssas|sas$|signature|privatekey|^key$|apikey|connectionstring)`)

// sasSig matches SAS signatures inside URLs in any string.
var sasSig = regexp.MustCompile(`(?i)([?&]sig=)[^&"\s]+`)

const redacted = "REDACTED"

// redactBody returns a body fit for the log: JSON with secret fields
// replaced, form data likewise, SAS signatures cut from URLs anywhere.
func redactBody(b []byte, contentType string) string {
	if len(b) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		out, _ := json.Marshal(redactJSON(v))
		return string(out)
	}
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		if q, err := url.ParseQuery(string(b)); err == nil {
			for k := range q {
				if secretKey.MatchString(k) {
					q[k] = []string{redacted}
				}
			}
			return q.Encode()
		}
	}
	if !isText(b) {
		return "(binary body, " + itoaLen(len(b)) + " bytes)"
	}
	return sasSig.ReplaceAllString(string(b), "${1}"+redacted)
}

func redactJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if secretKey.MatchString(k) {
				if _, isObj := e.(map[string]any); !isObj {
					x[k] = redacted
					continue
				}
			}
			x[k] = redactJSON(e)
		}
	case []any:
		for i := range x {
			x[i] = redactJSON(x[i])
		}
	case string:
		return sasSig.ReplaceAllString(x, "${1}"+redacted)
	}
	return v
}

func redactQuery(q string) string {
	if !hasSig(q) { // the common case, without the regexp (every request's access log line)
		return q
	}
	return sasSig.ReplaceAllString("?"+q, "${1}"+redacted)[1:]
}

// hasSig reports whether q holds "sig=" in any case (a superset of what
// sasSig matches).
func hasSig(q string) bool {
	for i := 0; i+4 <= len(q); i++ {
		if q[i]|0x20 == 's' && q[i+1]|0x20 == 'i' && q[i+2]|0x20 == 'g' && q[i+3] == '=' {
			return true
		}
	}
	return false
}

func isText(b []byte) bool {
	for _, c := range b[:min(len(b), 512)] {
		if c < 0x09 || (c > 0x0d && c < 0x20) {
			return false
		}
	}
	return true
}

func itoaLen(n int) string { b, _ := json.Marshal(n); return string(b) }
