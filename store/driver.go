package store

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/google/uuid"
)

// What both drivers share (database/sql for SQLite, pgx for PostgreSQL):
// the rows of a query, the answer of a one-row read, a new task's fields.

// rowSet is a query's rows, database/sql's or pgx's.
type rowSet interface {
	Next() bool
	Scan(...any) error
	Err() error
}

// collect reads every row of a query's answer (rows and err as the driver
// returned them) with scan, then closes the rows; what names the read in an
// error ("list docs").
func collect[T any, R rowSet](rows R, err error, what string, scan func(func(...any) error) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer closeRows(rows)
	var out []T
	for rows.Next() {
		v, err := scan(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// closeRows closes database/sql's rows (whose Close answers an error, which
// Err has reported already) or pgx's.
func closeRows(rows rowSet) {
	switch r := rows.(type) {
	case interface{ Close() error }:
		r.Close()
	case interface{ Close() }:
		r.Close()
	}
}

// one is the answer of a one-row read: the driver's noRows is ErrNotFound;
// what names the read in another error ("get task t1").
func one[T any](v T, err, noRows error, what string) (T, error) {
	var zero T
	if errors.Is(err, noRows) {
		return zero, ErrNotFound
	}
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

func scanString(scan func(...any) error) (string, error) {
	var s string
	err := scan(&s)
	return s, err
}

// newTask fills in what Enqueue decides of a task written at now (its id,
// when not given, its run time, when zero, and its creation) and the value
// of its unique key column (NULL for none).
func newTask(task Task, now time.Time) (Task, any) {
	if task.ID == "" {
		task.ID = uuid.NewString()
	}
	if task.RunAt.IsZero() {
		task.RunAt = now
	}
	task.Created = now
	if task.Key == "" {
		return task, nil
	}
	return task, task.Key
}

// A migration is an embedded SQL file that the database has not applied.
type migration struct{ name, body string }

// pendingMigrations lists, in name order, the migrations of fsys that
// pattern matches and applied does not report as applied, with their SQL.
func pendingMigrations(fsys embed.FS, pattern string, applied func(name string) (bool, error)) ([]migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, name := range names {
		done, err := applied(name)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if done {
			continue
		}
		body, err := fsys.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{name, string(body)})
	}
	return out, nil
}
