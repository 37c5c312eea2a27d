// Package identity is Safehold's token issuer and principal directory:
// service principals with client secrets, system-assigned managed identities,
// OIDC discovery, the client-credentials token endpoint and JWKS, and the
// verification of bearer tokens on every ARM request.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/store"
)

// Principal kinds.
const (
	KindServicePrincipal = "ServicePrincipal"
	KindManagedIdentity  = "ManagedIdentity"
)

// Principal is a service principal or managed identity.
type Principal struct {
	ObjectID    string    `json:"objectId"`
	AppID       string    `json:"appId"`
	DisplayName string    `json:"displayName"`
	Kind        string    `json:"kind"`
	TenantID    string    `json:"tenantId"`
	ResourceID  string    `json:"resourceId,omitempty"` // managed identities: the resource they belong to
	SecretSalt  string    `json:"secretSalt,omitempty"`
	SecretHash  string    `json:"secretHash,omitempty"` // sha256(salt || secret), hex
	Created     time.Time `json:"created"`
}

const (
	principalKind = PrincipalKind
	appIDKind     = "principal-appid"
)

// ErrNotFound is returned for an unknown principal.
var ErrNotFound = store.ErrNotFound

// NewSecret returns a random client secret.
func NewSecret() string {
	b := make([]byte, 30)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(salt, secret string) string {
	h := sha256.Sum256([]byte(salt + "\x00" + secret))
	return hex.EncodeToString(h[:])
}

// CheckSecret reports whether secret is the principal's client secret.
func (p *Principal) CheckSecret(secret string) bool {
	if p.SecretHash == "" {
		return false
	}
	got := hashSecret(p.SecretSalt, secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(p.SecretHash)) == 1
}

// SetSecret stores a salted hash of secret.
func (p *Principal) SetSecret(secret string) {
	salt := make([]byte, 16)
	rand.Read(salt)
	p.SecretSalt = hex.EncodeToString(salt)
	p.SecretHash = hashSecret(p.SecretSalt, secret)
}

// Directory stores principals.
type Directory struct {
	Store    store.Store
	TenantID string

	knownOnce sync.Once
	known     *store.KnownKeys // Exists's
}

// CreateServicePrincipal creates a service principal and returns it with its secret.
func (d *Directory) CreateServicePrincipal(ctx context.Context, tx store.Tx, displayName string) (*Principal, string, error) {
	p := &Principal{ObjectID: uuid.NewString(), AppID: uuid.NewString(), DisplayName: displayName, Kind: KindServicePrincipal, TenantID: d.TenantID, Created: time.Now().UTC()}
	secret := NewSecret()
	p.SetSecret(secret)
	if err := d.Put(ctx, tx, p); err != nil {
		return nil, "", err
	}
	return p, secret, nil
}

// CreateManagedIdentity creates a system-assigned identity for resourceID.
func (d *Directory) CreateManagedIdentity(ctx context.Context, tx store.Tx, resourceID string) (*Principal, error) {
	p := &Principal{ObjectID: uuid.NewString(), AppID: uuid.NewString(), DisplayName: resourceID, Kind: KindManagedIdentity, TenantID: d.TenantID, ResourceID: resourceID, Created: time.Now().UTC()}
	if err := d.Put(ctx, tx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Put writes a principal.
func (d *Directory) Put(ctx context.Context, tx store.Tx, p *Principal) error {
	if err := store.WriteJSON(ctx, tx.Put, store.Doc{Kind: principalKind, Key: p.ObjectID, Type: p.Kind}, p, "principal"); err != nil {
		return fmt.Errorf("put principal: %w", err)
	}
	return tx.Put(ctx, store.Doc{Kind: appIDKind, Key: p.AppID, Value: []byte(p.ObjectID)})
}

// Delete removes a principal.
func (d *Directory) Delete(ctx context.Context, tx store.Tx, objectID string) error {
	p, err := d.get(ctx, tx, objectID)
	if err != nil {
		return err
	}
	if err := tx.Delete(ctx, principalKind, p.ObjectID); err != nil {
		return err
	}
	return store.DeleteKeys(ctx, tx, appIDKind, p.AppID)
}

func (d *Directory) get(ctx context.Context, r store.Reader, objectID string) (*Principal, error) {
	return store.GetJSON[Principal](ctx, r, principalKind, objectID, "principal")
}

// GetIn reads a principal by object id as r holds it (a transaction's
// reader: a write that needs the principal checks it there).
func (d *Directory) GetIn(ctx context.Context, r store.Reader, objectID string) (*Principal, error) {
	return d.get(ctx, r, objectID)
}

// Get reads a principal by object id.
func (d *Directory) Get(ctx context.Context, objectID string) (*Principal, error) {
	return d.get(ctx, d.Store, objectID)
}

// Exists reports whether a principal exists (without decoding it: the
// per-request check of a cached token's principal).
func (d *Directory) Exists(ctx context.Context, objectID string) (bool, error) {
	d.knownOnce.Do(func() { d.known = store.NewKnownKeys(d.Store, principalKind) })
	return d.known.Exists(ctx, objectID) // every request's check: from memory while no principal was written
}

// PrincipalKind is the store kind of principals.
const PrincipalKind = "principal"

// PrincipalRead is the store read of the principal objectID that Exists
// and Get make, for a caller that prefetches it (store.Prefetch) with the
// request's other checks and passes the reader to Issuer.AuthenticateIn.
func PrincipalRead(objectID string) store.Read {
	return store.Read{Kind: principalKind, Key: objectID}
}

// ByAppID reads a principal by client (application) id.
func (d *Directory) ByAppID(ctx context.Context, appID string) (*Principal, error) {
	doc, err := d.Store.Get(ctx, appIDKind, appID)
	if err != nil {
		return nil, err
	}
	return d.Get(ctx, string(doc.Value))
}

// List lists principals of a kind ("" for all).
func (d *Directory) List(ctx context.Context, kind string) ([]*Principal, error) {
	docs, err := d.Store.List(ctx, principalKind, store.ListQuery{Type: kind})
	if err != nil {
		return nil, err
	}
	out := make([]*Principal, 0, len(docs))
	for _, doc := range docs {
		p, err := store.DecodeJSON[Principal](doc, "principal")
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
