package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
)

// Issuer issues and verifies access tokens.
type Issuer struct {
	Dir      *Directory
	Clock    clock.Clock
	TenantID string
	// Hosts are the host names (without port) the server answers on.
	Hosts []string
	// Audiences are the server's ARM endpoints (scheme://host:port, one per
	// name it answers on). Tokens are issued for and accepted with exactly
	// these (with or without a trailing slash) and the public-cloud ARM
	// audiences unmodified SDKs and CLIs ask for; nothing else.
	Audiences []string
	// Peers, when set, lists more accepted audiences: the ARM endpoints of
	// the other replicas sharing this server's store, so a token obtained
	// for one replica works on all of them.
	Peers    func() []string
	Lifetime time.Duration

	key   *rsa.PrivateKey
	kid   string
	cache tokenCache
}

// LoadOrCreateKey loads the signing key from the store, creating it on first start.
func (is *Issuer) LoadOrCreateKey(ctx context.Context, s store.Store) error {
	d, err := s.Get(ctx, "config", "signing-key")
	if errors.Is(err, store.ErrNotFound) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return fmt.Errorf("generate signing key: %w", err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		err = s.Update(ctx, func(tx store.Tx) error {
			return tx.Create(ctx, store.Doc{Kind: "config", Key: "signing-key", Value: pemBytes})
		})
		if errors.Is(err, store.ErrConflict) {
			return is.LoadOrCreateKey(ctx, s) // another replica created it at the same moment
		}
		if err != nil {
			return fmt.Errorf("store signing key: %w", err)
		}
		d.Value = pemBytes
	} else if err != nil {
		return fmt.Errorf("load signing key: %w", err)
	}
	blk, _ := pem.Decode(d.Value)
	if blk == nil {
		return errors.New("load signing key: not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return fmt.Errorf("load signing key: %w", err)
	}
	is.key = key
	sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	is.kid = base64.RawURLEncoding.EncodeToString(sum[:12])
	return nil
}

func (is *Issuer) issuerURL(base string) string { return base + "/" + is.TenantID + "/v2.0" }

// Routes registers the identity endpoints on mux.
func (is *Issuer) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", is.serveDiscovery)
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", is.serveDiscovery)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", is.serveToken)
	mux.HandleFunc("POST /{tenant}/oauth2/token", is.serveToken)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", is.serveJWKS)
	mux.HandleFunc("GET /common/discovery/instance", is.serveInstanceDiscovery)
}

// MayServe reports whether path may be one of Routes' paths other than
// /common/...: its second segment is one that follows {tenant} there. A
// path for which it reports false goes to the mux's other patterns
// (server.armOnly relies on it: keep it in step with Routes).
func (is *Issuer) MayServe(path string) bool {
	rest := strings.TrimPrefix(path, "/")
	_, rest, _ = strings.Cut(rest, "/")
	second, _, _ := strings.Cut(rest, "/")
	switch second {
	case "v2.0", ".well-known", "oauth2", "discovery":
		return true
	}
	return false
}

func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// tenantOK accepts the tenant id, the multi-tenant aliases, and "adfs": the
// AD FS-shaped authority (https://host/adfs, as Azure Stack Hub advertises
// its login endpoint) for clients whose MSAL asks login.microsoftonline.com
// for instance discovery about any other authority (the az CLI).
func (is *Issuer) tenantOK(t string) bool {
	return strings.EqualFold(t, is.TenantID) || t == "common" || t == "organizations" || strings.EqualFold(t, adfsTenant)
}

// adfsTenant is the path of the AD FS-shaped authority.
const adfsTenant = "adfs"

func (is *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !is.tenantOK(tenant) {
		oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Use the tenantId from connection.json.", tenant))
		return
	}
	base := baseURL(r)
	authorize, token := base+"/"+is.TenantID+"/oauth2/v2.0/authorize", base+"/"+is.TenantID+"/oauth2/v2.0/token"
	if strings.EqualFold(tenant, adfsTenant) {
		// AD FS keeps its OAuth endpoints under /adfs (MSAL reads them from here).
		authorize, token = base+"/adfs/oauth2/authorize", base+"/adfs/oauth2/token"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                is.issuerURL(base),
		"authorization_endpoint":                authorize,
		"token_endpoint":                        token,
		"jwks_uri":                              base + "/" + is.TenantID + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials"},
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "safehold.local",
	})
}

func (is *Issuer) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": baseURL(r) + "/" + is.TenantID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

func (is *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	pub := is.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": is.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, desc),
		"error_codes":       []int{aadsts},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          w.Header().Get("x-ms-request-id"),
		"correlation_id":    w.Header().Get("x-ms-correlation-request-id"),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// PublicARMAudiences are the public cloud's ARM audiences, which Azure
// SDKs and CLIs request by default.
var PublicARMAudiences = []string{"https://management.core.windows.net/", "https://management.core.windows.net", "https://management.azure.com/", "https://management.azure.com"}

// AudienceOK reports whether aud is one ARM accepts here: the server's own
// ARM endpoint or a public-cloud ARM audience, with or without one
// trailing slash.
func (is *Issuer) AudienceOK(aud string) bool {
	a := strings.TrimSuffix(aud, "/")
	for _, x := range PublicARMAudiences {
		if strings.EqualFold(a, strings.TrimSuffix(x, "/")) {
			return true
		}
	}
	for _, x := range is.Audiences {
		if strings.EqualFold(a, strings.TrimSuffix(x, "/")) {
			return true
		}
	}
	if is.Peers != nil {
		for _, x := range is.Peers() {
			if strings.EqualFold(a, strings.TrimSuffix(x, "/")) {
				return true
			}
		}
	}
	return false
}

// AllowedAudiences lists the accepted audiences, as ARM names them in
// InvalidAuthenticationTokenAudience.
func (is *Issuer) AllowedAudiences() []string {
	var out []string
	all := is.Audiences
	if is.Peers != nil {
		all = append(append([]string(nil), all...), is.Peers()...)
	}
	for _, x := range all {
		x = strings.TrimSuffix(x, "/")
		out = append(out, x+"/", x)
	}
	return append(out, PublicARMAudiences...)
}

func (is *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !is.tenantOK(tenant) {
		oauthError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'; only client_credentials is supported.", gt))
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	// One resource's token: a scope naming two is refused, as Entra ID
	// refuses it, rather than answered for one of them; one resource's
	// /.default sent twice (in any case) is still one resource.
	scope, all := "", strings.Join(r.PostForm["scope"], " ")
	for _, s := range strings.Fields(all) {
		if strings.HasSuffix(s, "/.default") {
			if scope != "" && !strings.EqualFold(scope, strings.TrimSuffix(s, "/.default")) {
				oauthError(w, http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid: a token is for one resource; ask for each resource's token with its own request.", all))
				return
			}
			if scope == "" {
				scope = strings.TrimSuffix(s, "/.default")
			}
		}
	}
	if scope == "" && r.PostForm.Get("resource") != "" {
		scope = r.PostForm.Get("resource")
	}
	if scope == "" {
		oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope is not valid: client credential flows must have a scope value with /.default suffixed to the resource identifier.")
		return
	}
	if !is.AudienceOK(scope) {
		oauthError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant. Safehold issues tokens for its ARM endpoint (armEndpoint in connection.json) and the public ARM audiences only.", scope, is.TenantID))
		return
	}
	p, err := is.Dir.ByAppID(r.Context(), clientID)
	if err != nil && (strings.ContainsFunc(clientID, unicode.IsControl) || !utf8.ValidString(clientID)) {
		// No application id holds these (PostgreSQL refuses a NUL in a
		// query, an error that is no outage): not found, not a 503.
		err = store.ErrNotFound
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// The directory could not be read (the metadata database out of
		// reach): a transient error the client retries, not a verdict on
		// its application id.
		w.Header().Set("Retry-After", "5")
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred: the directory of service principals (in the service's metadata database) is unavailable or did not answer in time. Retry the request.")
		return
	}
	if err != nil || p.Kind != KindServicePrincipal {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, is.TenantID))
		return
	}
	if secret == "" && r.PostForm.Get("client_assertion") != "" {
		// A certificate or federated credential's signed assertion:
		// Safehold registers no certificates or federated identities on
		// its service principals, so none can be checked.
		oauthError(w, http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf("Client assertion failed signature validation: application '%s' has no certificate or federated credential registered; Safehold's service principals sign in with their client secret (client_secret, as connection.json's clientSecret or safehold sp create prints it).", clientID))
		return
	}
	if !p.CheckSecret(secret) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	}
	tok, exp, err := is.Issue(p, scope, baseURL(r))
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", 50000, "could not sign token")
		return
	}
	secs := int(exp.Sub(is.Clock.Now()).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok,
	})
}

// Claims are Safehold's access-token claims.
type Claims struct {
	jwt.RegisteredClaims
	TenantID string `json:"tid"`
	ObjectID string `json:"oid"`
	AppID    string `json:"appid"`
	IDType   string `json:"idtyp,omitempty"`
	Kind     string `json:"safehold_kind,omitempty"`
}

// Issue signs an access token for p with audience aud; base is the issuer's base URL.
func (is *Issuer) Issue(p *Principal, aud, base string) (string, time.Time, error) {
	now := is.Clock.Now()
	life := is.Lifetime
	if life == 0 {
		life = time.Hour
	}
	exp := now.Add(life)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: is.issuerURL(base), Subject: p.ObjectID, Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
			ID: randomID(),
		},
		TenantID: is.TenantID, ObjectID: p.ObjectID, AppID: p.AppID, IDType: "app", Kind: p.Kind,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = is.kid
	s, err := t.SignedString(is.key)
	return s, exp, err
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verify checks a bearer token's signature, audience, issuer tenant and
// expiry, and returns the caller. The error is a *failure.Error of kind
// Unauthenticated (the ARM layer answers it 401).
func (is *Issuer) Verify(ctx context.Context, token string) (arm.Caller, error) {
	return is.VerifyIn(ctx, token, nil)
}

// VerifyIn is Verify reading the caller's principal from the reader reads
// returns for its object id (nil: from the directory's store).
func (is *Issuer) VerifyIn(ctx context.Context, token string, reads func(objectID string) store.Reader) (arm.Caller, error) {
	now := is.Clock.Now()
	reader := func(objectID string) store.Reader {
		if reads != nil {
			return reads(objectID)
		}
		return is.Dir.Store
	}
	if caller, ok := is.cache.get(token, now); ok {
		// The signature, audience, issuer and expiry were checked when the
		// token was first seen; whether its principal still exists is
		// checked on every request: read with the request's other checks
		// (reads), or by the directory (from memory while no principal
		// was written, where the store can tell).
		var exists bool
		var err error
		if reads != nil {
			exists, err = store.Exists(ctx, reads(caller.ObjectID), principalKind, caller.ObjectID)
		} else {
			exists, err = is.Dir.Exists(ctx, caller.ObjectID)
		}
		if err != nil {
			return arm.Caller{}, err // (the store's: a database out of reach is a 503)
		} else if !exists {
			return arm.Caller{}, principalGone(caller.ObjectID)
		}
		return caller, nil
	}
	var c Claims
	parsed, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return &is.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(is.Clock.Now), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return arm.Caller{}, failure.New(failure.Unauthenticated, "ExpiredAuthenticationToken", "The access token expiry UTC time '%s' is earlier than current UTC time '%s'.", expString(&c), now.Format(time.RFC3339))
		}
		return arm.Caller{}, failure.New(failure.Unauthenticated, "InvalidAuthenticationToken", "The access token is invalid: %v.", err)
	}
	audOK := false
	for _, a := range c.Audience {
		if is.AudienceOK(a) {
			audOK = true
		}
	}
	if !audOK {
		return arm.Caller{}, failure.New(failure.Unauthenticated, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.", strings.Join(c.Audience, ","), strings.Join(is.AllowedAudiences(), "','"))
	}
	if !strings.EqualFold(c.TenantID, is.TenantID) || !strings.HasSuffix(c.Issuer, "/"+is.TenantID+"/v2.0") {
		return arm.Caller{}, failure.New(failure.Unauthenticated, "InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer '%s'.", c.Issuer)
	}
	caller := arm.Caller{ObjectID: c.ObjectID, AppID: c.AppID, TenantID: c.TenantID, Kind: c.Kind}
	if caller.Kind == "" {
		caller.Kind = KindServicePrincipal
	}
	if _, err := is.Dir.get(ctx, reader(c.ObjectID), c.ObjectID); errors.Is(err, store.ErrNotFound) {
		return arm.Caller{}, principalGone(c.ObjectID)
	} else if err != nil {
		return arm.Caller{}, err
	}
	is.cache.put(token, cachedToken{caller: caller, exp: c.ExpiresAt.Time}, now)
	return caller, nil
}

// Forget drops cached verifications (after a principal is deleted).
func (is *Issuer) Forget() { is.cache.clear() }

func principalGone(objectID string) error {
	return failure.New(failure.Unauthenticated, "InvalidAuthenticationToken", "The principal '%s' of the access token no longer exists.", objectID)
}

func expString(c *Claims) string {
	if c.ExpiresAt == nil {
		return ""
	}
	return c.ExpiresAt.Time.UTC().Format(time.RFC3339)
}

// Authenticate extracts and verifies the bearer token of r.
func (is *Issuer) Authenticate(r *http.Request) (arm.Caller, error) {
	return is.AuthenticateIn(r, nil)
}

// AuthenticateIn is Authenticate reading the caller's principal from the
// reader reads returns for its object id (see VerifyIn): the server reads
// it there with the request's other checks (store.Prefetch, PrincipalRead).
func (is *Issuer) AuthenticateIn(r *http.Request, reads func(objectID string) store.Reader) (arm.Caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return arm.Caller{}, failure.New(failure.Unauthenticated, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return arm.Caller{}, failure.New(failure.Unauthenticated, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format: use 'Bearer <token>'.")
	}
	return is.VerifyIn(r.Context(), strings.TrimSpace(h[len(prefix):]), reads)
}
