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
	return scanKinds(rows)
}

// Kinds lists the document kinds that hold at least one document.
func (p *Postgres) Kinds(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, kindsQuery)
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	defer rows.Close()
	return scanKinds(rows)
}

// scanKinds reads the rows of kindsQuery (database/sql's or pgx's).
func scanKinds(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) ([]string, error) {
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
