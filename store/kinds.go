package store

import "context"

const kindsQuery = `SELECT DISTINCT kind FROM docs ORDER BY kind`

// Kinds lists the document kinds that hold at least one document (the
// admin reset uses it to clear every kind but those it keeps).
func (s *SQLite) Kinds(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, kindsQuery)
	return collect(rows, err, "list kinds", scanString)
}

// Kinds lists the document kinds that hold at least one document.
func (p *Postgres) Kinds(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, kindsQuery)
	return collect(rows, err, "list kinds", scanString)
}
