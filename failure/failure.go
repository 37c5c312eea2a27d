// Package failure is the vocabulary of the errors the domain returns to the
// faces: what kind of failure it is (invalid input, not found, conflict with
// the resource's state) and the Azure error code and message that tell the
// user what to do next. It imports nothing of Safehold and knows nothing of
// HTTP: the ARM layer (arm.As) writes a *failure.Error as a CloudError with the
// status its Kind maps to.
package failure

import (
	"errors"
	"fmt"
)

// Kind is what kind of failure an Error is.
type Kind int

const (
	// Invalid: the request cannot work as asked (a bad parameter, a
	// missing source, an unsupported option).
	Invalid Kind = iota + 1
	// NotFound: what the request names does not exist.
	NotFound
	// Conflict: the request is valid, but the current state of a resource
	// forbids it (attached, being created, exists already).
	Conflict
	// Unauthenticated: who is asking is not known (no, a bad or an expired
	// credential, or its principal is gone).
	Unauthenticated
	// Forbidden: the principal is known but lacks the permission.
	Forbidden
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not found"
	case Conflict:
		return "conflict"
	case Unauthenticated:
		return "unauthenticated"
	case Forbidden:
		return "forbidden"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Error is a domain failure with an Azure error code (e.g.
// "InvalidParameter", "OperationNotAllowed") and a message for the user.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// Target names the request field the error is about ("" none), as
	// ARM's error.target.
	Target string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New builds an Error.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf is an Invalid error with code.
func Invalidf(code, format string, args ...any) *Error { return New(Invalid, code, format, args...) }

// NotFoundf is a NotFound error with code.
func NotFoundf(code, format string, args ...any) *Error { return New(NotFound, code, format, args...) }

// Conflictf is a Conflict error with code.
func Conflictf(code, format string, args ...any) *Error { return New(Conflict, code, format, args...) }

// Is reports whether err (or an error it wraps) is an *Error of kind.
func Is(err error, kind Kind) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Kind == kind
}
