package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// VerifyRequest selects what an admin verify reads (the CLI's `safehold
// verify`).
type VerifyRequest struct {
	VaultID  string  `json:"vaultId,omitempty"`  // only this vault's recovery points ("" all)
	ReadData bool    `json:"readData,omitempty"` // read and re-hash every chunk
	Sample   float64 `json:"sample,omitempty"`   // read this fraction of packs (0 < sample < 1)
}

// adminVerify starts a verify through the protection engine, as the
// vaults' verify actions do: one Verify job per vault (in each vault's job
// list), run by a durable task. The answer's id is polled at
// .../verify/{id}, which returns the protection.VerifyRun.
func (s *Server) adminVerify(r *arm.Request) (*arm.Response, error) {
	var req VerifyRequest
	if err := r.DecodeOptional(&req); err != nil {
		return nil, err
	}
	q := protection.VerifyRequest{ReadData: req.ReadData, Sample: req.Sample}
	if req.VaultID != "" {
		if _, err := arm.ParseID(req.VaultID); err != nil {
			return nil, arm.BadRequest("InvalidVaultId", "The vault id '%s' is not a resource id: %v.", req.VaultID, err)
		}
		q.VaultIDs = []string{req.VaultID}
	}
	if err := q.Check(); err != nil {
		return nil, err
	}
	ctx := r.HTTP.Context()
	var run *protection.VerifyRun
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		run, err = s.Engine.StartVerify(ctx, tx, "", q, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.Engine.Notify()
	resp := arm.Status(http.StatusAccepted, map[string]any{"id": run.ID, "status": run.Status})
	resp.SetHeader("Azure-AsyncOperation", r.URL(adminPath+"/verify/"+run.ID))
	resp.SetHeader("Location", r.URL(adminPath+"/verify/"+run.ID))
	return resp.RetryAfter(r), nil
}

func (s *Server) adminVerifyStatus(r *arm.Request) (*arm.Response, error) {
	run, err := protection.GetVerify(r.HTTP.Context(), s.Store, r.Param("operationId"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, arm.Errorf(http.StatusNotFound, "VerifyNotFound", "There is no verify '%s' on this server.", r.Param("operationId"))
	}
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(run)
	if err != nil {
		return nil, err
	}
	return arm.OK(json.RawMessage(b)), nil
}
