package server

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/fault"
)

func (s *Server) faultList(r *arm.Request) (*arm.Response, error) {
	return arm.OK(map[string]any{"value": s.Faults.List()}), nil
}

func (s *Server) faultAdd(r *arm.Request) (*arm.Response, error) {
	var rule fault.Rule
	if err := r.Decode(&rule); err != nil {
		return nil, err
	}
	added, err := s.Faults.Add(rule, s.Config.Clock.Now())
	if err != nil {
		return nil, arm.BadRequest("InvalidFaultRule", "The fault rule is invalid: %v.", err)
	}
	s.logger.Info("fault rule added", "name", added.Name, "operation", added.Operation, "path", added.Path, "code", added.Code, "latency", added.Latency, "count", added.Count, "percent", added.Percent)
	return arm.Created(added), nil
}

func (s *Server) faultClear(r *arm.Request) (*arm.Response, error) {
	n := s.Faults.Clear()
	return arm.OK(map[string]any{"removed": n}), nil
}

func (s *Server) faultDelete(r *arm.Request) (*arm.Response, error) {
	if !s.Faults.Delete(r.Param("name")) {
		return nil, arm.Errorf(http.StatusNotFound, "FaultRuleNotFound", "There is no fault rule named '%s' (safehold fault list shows them).", r.Param("name"))
	}
	return arm.OK(map[string]any{"removed": 1}), nil
}

// injectARM applies arm fault rules to authenticated ARM requests (never to
// the admin API itself, so rules can always be cleared).
func (s *Server) injectARM(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) < len(adminPath) || !strings.EqualFold(p[:len(adminPath)], adminPath) { // not the admin API
			if err := s.Faults.Apply(r.Context(), fault.OpARM, r.Method, r.URL.Path); err != nil {
				var fe *fault.Error
				if errors.As(err, &fe) {
					w.Header().Set("x-ms-failure-cause", "gateway")
					arm.WriteError(w, arm.Errorf(fe.Status, fe.Code, "%s", fe.Message))
				}
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// injectDisk applies disk fault rules to the disk data plane, answering as
// Azure Storage does (an XML error body and x-ms-error-code).
func (s *Server) injectDisk(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Faults.Apply(r.Context(), fault.OpDisk, r.Method, r.URL.Path); err != nil {
			var fe *fault.Error
			if errors.As(err, &fe) {
				w.Header().Set("Content-Type", "application/xml")
				w.Header().Set("x-ms-error-code", fe.Code)
				w.WriteHeader(fe.Status)
				var b strings.Builder
				b.WriteString(`<?xml version="1.0" encoding="utf-8"?><Error><Code>`)
				xml.EscapeText(&b, []byte(fe.Code))
				b.WriteString(`</Code><Message>`)
				xml.EscapeText(&b, []byte(fe.Message))
				b.WriteString(`</Message></Error>`)
				w.Write([]byte(b.String()))
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// injectOp applies backup, restore and validate rules for the vault kinds
// (resource.Platform.Inject); the error travels as a CloudError.
func (s *Server) injectOp(ctx context.Context, op, target string) error {
	err := s.Faults.Apply(ctx, op, "", target)
	var fe *fault.Error
	if errors.As(err, &fe) {
		return arm.Errorf(fe.Status, fe.Code, "%s", fe.Message)
	}
	return err
}
