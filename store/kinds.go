package store

import (
	"context"
	"fmt"
)

const kindsQuery = `SELECT DISTINCT kind FROM docs ORDER BY kind`

// Kinds lists the document kinds that hold at least one document (the
// admin reset uses it to clear every kind but those it keeps).
func (s *SQLite) Kinds(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, kindsQuery)
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	defer rows.Close()
	return collect(rows, "list kinds", scanString)
}

// Kinds lists the document kinds that hold at least one document.
func (p *Postgres) Kinds(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, kindsQuery)
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	defer rows.Close()
	return collect(rows, "list kinds", scanString)
}
