package repo

import (
	"context"

	"github.com/osflow/osflow/internal/flock"
)

// lock takes the store-wide lock that orders channel switches, release
// creation and garbage collection, across the worker and CLI processes.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	return flock.Lock(ctx, s.path("lock"))
}
