package recoveryservices

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Security PINs (POST .../vaults/{vault}/backupSecurityPIN): as in Azure, a
// six-digit PIN valid for five minutes that confirms a critical operation.
// Safehold uses it to confirm deleting backup data: a DELETE of a protected
// item that carries the header x-ms-security-pin must name the vault's
// current PIN before it expires (400 UserErrorSecurityPinInvalid or
// UserErrorSecurityPinExpired otherwise), and a PIN confirms one delete
// only. A DELETE answered with the item's delete already running confirms
// nothing new: its PIN is neither checked nor spent (a client's retry of
// the DELETE that spent it is answered with that delete). A delete without the header is not asked for one. A new PIN
// replaces the vault's previous one; only its SHA-256 is stored (a
// document under the vault, deleted with it).

const (
	pinType     = "Microsoft.RecoveryServices/vaults/backupSecurityPIN"
	pinLifetime = 5 * time.Minute
	pinHeader   = "x-ms-security-pin"
)

// pinRecord is a vault's current security PIN.
type pinRecord struct {
	Hash    string    `json:"sha256"`
	Expires time.Time `json:"expires"`
}

func pinID(vid arm.ResourceID) arm.ResourceID { return vid.Child("backupSecurityPIN", "current") }

func pinHash(pin string) string {
	h := sha256.Sum256([]byte(pin))
	return hex.EncodeToString(h[:])
}

// dotnetTicks is t as .NET ticks (100 ns since 0001-01-01 UTC), the unit of
// Azure's expiryTimeInUTCTicks.
func dotnetTicks(t time.Time) int64 {
	const unixEpochTicks = 621355968000000000
	return unixEpochTicks + t.UTC().UnixNano()/100
}

func (pr *Provider) securityPIN(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in struct {
		ResourceGuardOperationRequests []string `json:"resourceGuardOperationRequests"`
	}
	vid, err := pr.vaultAndBody(r, &in)
	if err != nil {
		return nil, err
	}
	if err := pr.guarded(r, vid, opGuardSecurityPIN, in.ResourceGuardOperationRequests); err != nil {
		return nil, err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1000000))
	if err != nil {
		return nil, err
	}
	pin := fmt.Sprintf("%06d", n.Int64())
	expires := pr.p.Now().Add(pinLifetime)
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		return resource.Put(ctx, tx, pinID(vid), &pinRecord{Hash: pinHash(pin), Expires: expires})
	})
	if err != nil {
		return nil, err
	}
	return arm.OK(map[string]any{"token": pin, "securityPIN": pin, "expiryTimeInUtcTicks": dotnetTicks(expires)}), nil
}

// spendPIN checks the security PIN a delete of backup data carries (none:
// nothing to check) in tx and spends it.
func (pr *Provider) spendPIN(r *arm.Request, tx store.Tx, vid arm.ResourceID) error {
	pin := r.HTTP.Header.Get(pinHeader)
	if pin == "" {
		return nil
	}
	ctx := r.HTTP.Context()
	var rec pinRecord
	if err := resource.Get(ctx, tx, pinID(vid), &rec); err != nil {
		if isNotFound(err) {
			return arm.BadRequest("UserErrorSecurityPinInvalid", "The security PIN is not valid for vault '%s': generate one with POST .../backupSecurityPIN and use it within five minutes.", vid.Name())
		}
		return err
	}
	if subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(pinHash(pin))) != 1 {
		return arm.BadRequest("UserErrorSecurityPinInvalid", "The security PIN is not valid for vault '%s': use the last PIN generated for it.", vid.Name())
	}
	if !pr.p.Now().Before(rec.Expires) {
		return arm.Errorf(http.StatusBadRequest, "UserErrorSecurityPinExpired", "The security PIN of vault '%s' expired at %s: generate a new one.", vid.Name(), rec.Expires.UTC().Format(time.RFC3339))
	}
	return resource.Delete(ctx, tx, pinID(vid))
}
