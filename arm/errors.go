package arm

import (
	"fmt"
	"net/http"
)

// Error is an ARM CloudError. Handlers return it; the adapter writes it as
// {"error": {...}} with its Status.
type Error struct {
	Status         int              `json:"-"`
	Code           string           `json:"code"`
	Message        string           `json:"message"`
	Target         string           `json:"target,omitempty"`
	Details        []Error          `json:"details,omitempty"`
	AdditionalInfo []AdditionalInfo `json:"additionalInfo,omitempty"`
}

// AdditionalInfo is one entry of a CloudError's additionalInfo.
type AdditionalInfo struct {
	Type string `json:"type"`
	Info any    `json:"info,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 with code.
func BadRequest(code, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, code, format, args...)
}

// InvalidRequest is 400 InvalidRequestContent naming what to fix.
func InvalidRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InvalidRequestContent", format, args...)
}

// NotFound is 404 ResourceNotFound for a resource of type typ (e.g. "Microsoft.Compute/disks") and name.
func NotFound(typ, name, rg string) *Error {
	if rg == "" {
		return Errorf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s' was not found.", typ, name)
	}
	return Errorf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, name, rg)
}

// NotFoundID is 404 ResourceNotFound for a parsed id.
func NotFoundID(id ResourceID) *Error {
	return NotFound(id.Type(), joinNames(id.Names), id.ResourceGroup)
}

func joinNames(n []string) string {
	s := ""
	for i, x := range n {
		if i > 0 {
			s += "/"
		}
		s += x
	}
	return s
}

// Conflict is 409 with code.
func Conflict(code, format string, args ...any) *Error {
	return Errorf(http.StatusConflict, code, format, args...)
}

type errorEnvelope struct {
	Error *Error `json:"error"`
}
