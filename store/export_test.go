package store

// SetWriterHook makes p's writer call f at its stages: "commit" just
// before it sends a group's COMMIT, "committed" once that round trip
// ended. For tests that break the writer at those moments.
func SetWriterHook(p *Postgres, f func(stage string)) {
	p.hook.Store(&f)
}
