package sqlite

import (
	"context"
	"fmt"
)

// Ping checks the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite ping: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the database to path with VACUUM
// INTO, while other connections keep reading and writing: the copy is
// the database as of one read transaction. path must not exist.
func (s *Store) Backup(ctx context.Context, path string) error {
	if err := s.check(); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("sqlite backup to %s: %w", path, err)
	}
	return nil
}
