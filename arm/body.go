package arm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// readBody reads a request's body, at most limit bytes once decoded. A
// body sent with Content-Encoding gzip is decompressed; any other encoding
// is 415, as is a body whose Content-Type is not JSON (ARM's
// UnsupportedMediaType): ARM bodies are JSON, and a client that sends
// another media type or encoding is told so instead of having its bytes
// misread. One leading UTF-8 byte order mark is dropped, as ARM accepts
// such a body (a client sending a file an editor saved with one):
// encoding/json takes it for an invalid character, and every handler
// reads its body from here.
func readBody(hr *http.Request, limit int64) ([]byte, error) {
	const notGzip = "The request body is not gzip data, though its Content-Encoding is gzip: %v. Send the body compressed with gzip, or without the Content-Encoding header."
	var rd io.Reader = http.MaxBytesReader(nil, hr.Body, limit)
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(hr.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(rd)
		if err == io.EOF {
			return nil, nil // no body at all
		}
		if err != nil {
			return nil, bodyError(err, limit, notGzip)
		}
		defer zr.Close()
		rd, gz = io.LimitReader(zr, limit+1), true
	default:
		if b, err := io.ReadAll(rd); err != nil || len(b) > 0 {
			return nil, Errorf(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The content encoding '%s' is not supported. Send the body uncompressed (no Content-Encoding) or with Content-Encoding gzip.", hr.Header.Get("Content-Encoding"))
		}
		return nil, nil
	}
	body, err := io.ReadAll(rd)
	switch {
	case err != nil && gz:
		return nil, bodyError(err, limit, notGzip)
	case err != nil:
		return nil, bodyError(err, limit, "The request body could not be read: %v.")
	case int64(len(body)) > limit:
		return nil, tooLarge(limit)
	}
	if ct := hr.Header.Get("Content-Type"); ct != "" && len(bytes.TrimSpace(body)) > 0 && !isJSONType(ct) {
		return nil, Errorf(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The content media type '%s' is not supported. Only 'application/json' is supported.", ct)
	}
	return bytes.TrimPrefix(body, utf8BOM), nil
}

// utf8BOM is the UTF-8 encoding of U+FEFF, the byte order mark.
var utf8BOM = []byte("\xef\xbb\xbf")

func bodyError(err error, limit int64, format string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	return BadRequest("InvalidRequestContent", format, err)
}

func tooLarge(limit int64) error {
	return Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is larger than the limit of %d bytes.", limit)
}

// isJSONType reports whether a Content-Type names JSON: application/json,
// text/json or any type with a +json suffix, whatever its parameters.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	_, sub, _ := strings.Cut(mt, "/")
	return sub == "json" || strings.HasSuffix(sub, "+json")
}
