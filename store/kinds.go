package store

import (
	"context"
	"fmt"
)

// Kinds lists the document kinds that hold at least one document (the
// admin reset uses it to clear every kind but those it keeps).
func (s *SQLite) Kinds(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT kind FROM docs ORDER BY kind`)
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list kinds: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Kinds lists the document kinds that hold at least one document.
func (p *Postgres) Kinds(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT DISTINCT kind FROM docs ORDER BY kind`)
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list kinds: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
