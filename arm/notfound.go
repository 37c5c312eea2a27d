package arm

import "net/http"

// IsNotFound reports whether err answers 404: a CloudError with that
// status, or a NotFound failure (As turns it into one).
func IsNotFound(err error) bool {
	var ae *Error
	return As(err, &ae) && ae.Status == http.StatusNotFound
}
