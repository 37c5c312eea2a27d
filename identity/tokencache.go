package identity

import (
	"sync"
	"time"

	"github.com/safehold/safehold/arm"
)

// tokenCacheMax bounds the verified-token cache. A token costs about 1.2
// KiB here (the token itself, the caller and the expiry), so the cache
// stays under a few MiB however many tokens clients fetch; a token evicted
// is simply verified again when next seen.
const tokenCacheMax = 4096

type cachedToken struct {
	caller arm.Caller
	exp    time.Time
}

// tokenCache remembers tokens whose signature, audience, issuer and expiry
// have been verified, keyed by the token itself (a map lookup hashes it
// far faster than a SHA-256 would), until the token expires, so a request
// does not pay an RSA verification. It holds at most
// tokenCacheMax entries: when full, expired entries go first, then an
// arbitrary half (those tokens are simply verified again when next seen).
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]cachedToken
}

func (c *tokenCache) get(key string, now time.Time) (arm.Caller, bool) {
	c.mu.RLock()
	ct, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || !now.Before(ct.exp) {
		return arm.Caller{}, false
	}
	return ct.caller, true
}

func (c *tokenCache) put(key string, ct cachedToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedToken{}
	}
	if len(c.m) >= tokenCacheMax {
		for k, v := range c.m {
			if !now.Before(v.exp) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < tokenCacheMax/2 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = ct
}

func (c *tokenCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
