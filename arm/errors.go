package arm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"syscall"

	"github.com/safehold/safehold/failure"
)

// Error is an ARM CloudError. Handlers return it; the adapter writes it as
// {"error": {...}} with its Status.
type Error struct {
	Status         int              `json:"-"`
	Code           string           `json:"code"`
	Message        string           `json:"message"`
	Target         string           `json:"-"`
	Details        []Error          `json:"-"`
	AdditionalInfo []AdditionalInfo `json:"additionalInfo,omitempty"`
}

// MarshalJSON writes target and details as null when empty, as ARM does.
func (e *Error) MarshalJSON() ([]byte, error) {
	type plain Error
	var target *string
	if e.Target != "" {
		target = &e.Target
	}
	return json.Marshal(struct {
		*plain
		Target  *string `json:"target"`
		Details []Error `json:"details"`
	}{(*plain)(e), target, e.Details})
}

// UnmarshalJSON reads what MarshalJSON writes (errors are stored in operation records).
func (e *Error) UnmarshalJSON(b []byte) error {
	type plain Error
	var v struct {
		*plain
		Target  *string `json:"target"`
		Details []Error `json:"details"`
	}
	v.plain = (*plain)(e)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.Target != nil {
		e.Target = *v.Target
	}
	e.Details = v.Details
	return nil
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

// As finds the CloudError that err stands for and sets *target to it: an
// *Error in err's chain as it is, or a domain *failure.Error with the status
// of its kind (Invalid 400, NotFound 404, Conflict 409, Unauthenticated 401,
// Forbidden 403), or an error that says it passes (an Unavailable method
// returning true: the store's ErrUnavailable, a database out of reach or a
// statement past its timeout; an object store out of reach, whose error has
// an ObjectStoreUnreachable method) as 503 ServiceUnavailable, which the router
// answers with Retry-After, or a write whose commit was sent but never
// answered, nor could be asked about (the store's ErrOutcomeUnknown: an
// OutcomeUnknown method returning true) as 504 GatewayTimeout, without
// Retry-After, since the write may have been made, or a write out of space (ENOSPC, the store's
// ErrInsufficientStorage) as 507 InsufficientStorage: Azure has no code
// for it, and a client retrying at once would only fail again until an
// operator frees space. It reports false for any other error (an
// internal one). Handlers and the operation runner use it instead of
// errors.As, so the domain's errors reach the wire unchanged in code and
// message.
func As(err error, target **Error) bool {
	if errors.As(err, target) {
		return true
	}
	if errors.Is(err, syscall.ENOSPC) {
		*target = Errorf(http.StatusInsufficientStorage, "InsufficientStorage", "The service is out of storage space where it keeps its data, so the request could not be completed. An operator must free space on the file system of Safehold's data directory (or its database's); then retry the request.")
		return true
	}
	var o interface{ OutcomeUnknown() bool }
	if errors.As(err, &o) && o.OutcomeUnknown() {
		*target = Errorf(http.StatusGatewayTimeout, "GatewayTimeout", "The service's metadata database did not answer in time whether the request's changes were committed: they may have been. Read the resource (or the operation) again before retrying the request.")
		return true
	}
	var ou interface{ ObjectStoreUnreachable() bool }
	if errors.As(err, &ou) && ou.ObjectStoreUnreachable() {
		*target = Errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "The service's object storage, where it keeps backup and snapshot data, did not answer (%v). Retry the request once it is reachable again.", err)
		return true
	}
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) && u.Unavailable() {
		*target = Errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "The service's metadata database is unavailable or did not answer in time. Retry the request.")
		return true
	}
	var fe *failure.Error
	if !errors.As(err, &fe) {
		return false
	}
	status := http.StatusBadRequest
	switch fe.Kind {
	case failure.NotFound:
		status = http.StatusNotFound
	case failure.Conflict:
		status = http.StatusConflict
	case failure.Unauthenticated:
		status = http.StatusUnauthorized
	case failure.Forbidden:
		status = http.StatusForbidden
	}
	*target = &Error{Status: status, Code: fe.Code, Message: fe.Message, Target: fe.Target}
	return true
}

// BadRequest is a 400 with code.
func BadRequest(code, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, code, format, args...)
}

// BadRequestAt is a 400 with code about the request's field (the
// CloudError's target).
func BadRequestAt(field, code, format string, args ...any) *Error {
	e := Errorf(http.StatusBadRequest, code, format, args...)
	e.Target = field
	return e
}

// InvalidRequest is 400 InvalidRequestContent naming what to fix.
func InvalidRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "InvalidRequestContent", format, args...)
}

// NotFound is 404 ResourceNotFound for a resource of type typ (e.g. "Microsoft.Compute/disks") and name.
func NotFound(typ, name, rg string) *Error {
	return notFound(typ+"/"+name, rg)
}

// NotFoundID is 404 ResourceNotFound for a parsed id, naming it as ARM
// does (QualifiedName: each type followed by its name).
func NotFoundID(id ResourceID) *Error {
	return notFound(id.QualifiedName(), id.ResourceGroup)
}

func notFound(qualified, rg string) *Error {
	if rg == "" {
		return Errorf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", qualified)
	}
	return Errorf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", qualified, rg)
}

// Conflict is 409 with code.
func Conflict(code, format string, args ...any) *Error {
	return Errorf(http.StatusConflict, code, format, args...)
}

type errorEnvelope struct {
	Error *Error `json:"error"`
}

// DetailsListed answers h's CloudErrors with details as a list ([]) where
// they have none, at every level. Clients built on azure-cli's generated
// commands (az network) and az's deployment commands iterate over an
// error's details and fail on ARM's null ("Operation returned an invalid
// status", "'NoneType' object is not iterable"); the providers whose answers
// they read (the network provider, deployments) write a list, as Azure's
// do. ListsDetails does it for what the router itself refuses too.
func DetailsListed(h Handler) Handler {
	return func(r *Request) (*Response, error) {
		resp, err := h(r)
		return resp, detailsListed(err)
	}
}

// detailsListed is err, a CloudError, as ListedDetails returns it, still
// saying what err says (the router logs the cause of a 507 or 503, not
// the message its client is answered); any other error as it is.
func detailsListed(err error) error {
	var ae *Error
	if err != nil && As(err, &ae) {
		if ae == err {
			return ListedDetails(ae)
		}
		return &listedCause{listed: ListedDetails(ae), cause: err}
	}
	return err
}

// listedCause is a CloudError with listed details (what As finds) made
// from cause, which its Error and Unwrap give.
type listedCause struct {
	listed *Error
	cause  error
}

func (l *listedCause) Error() string { return l.cause.Error() }
func (l *listedCause) Unwrap() error { return l.cause }

// As gives the listed CloudError to errors.As.
func (l *listedCause) As(target any) bool {
	if t, ok := target.(**Error); ok {
		*t = l.listed
		return true
	}
	return false
}

// ListedDetails is a copy of e whose details, and theirs below, are lists
// ([]) where they were nil (e is left as it is).
func ListedDetails(e *Error) *Error {
	c := *e
	c.Details = make([]Error, len(e.Details))
	for i := range e.Details {
		c.Details[i] = *ListedDetails(&e.Details[i])
	}
	return &c
}
