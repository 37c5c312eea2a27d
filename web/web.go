// Package web is Safehold's dashboard: a small single-page app served at
// /dashboard/ that signs in with a service principal through Safehold's own
// token endpoint and reads everything through the public ARM API, so it
// shows exactly what SDK clients see (and nothing a principal may not read).
package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Config is what the page needs to sign in (nothing secret).
type Config struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
}

// Handler serves the dashboard under /dashboard/.
func Handler(cfg Config) http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.StripPrefix("/dashboard/", http.FileServer(http.FS(sub)))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dashboard/config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(cfg)
	})
	mux.Handle("GET /dashboard/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusFound))
	return mux
}
