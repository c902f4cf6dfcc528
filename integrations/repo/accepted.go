package repo

import (
	"fmt"
	"time"
)

// Accepted is an upstream index the mirror accepted for a repo: what its
// repomd.xml said, so that the next sync can refuse one that moves back
// (a replayed or frozen mirror serving old, validly signed metadata).
type Accepted struct {
	Time     time.Time `json:"time"`
	Snapshot string    `json:"snapshot"`
	// Revision is repomd.xml's <revision>, "" when it has none.
	Revision string `json:"revision"`
	// Timestamp is the newest <timestamp> of its data (Unix seconds), 0
	// when it has none.
	Timestamp int64 `json:"timestamp"`
	// AllowedOlder is set when the operator accepted an index older than
	// the one before (osflow sync --allow-older).
	AllowedOlder bool   `json:"allowedOlder,omitempty"`
	Note         string `json:"note,omitempty"`
}

// acceptedLog is the append-only log of the upstream indexes accepted for
// repo, beside its snapshots directory (GC looks only at directories and
// snapshot records, so it never takes this for one).
func (s *Store) acceptedLog(repo string) string { return s.path("snapshots", repo+".accepted.log") }

// LastAccepted returns the upstream index last accepted for repo;
// ErrNotFound if none was recorded yet.
func (s *Store) LastAccepted(repo string) (Accepted, error) {
	if err := CheckRepoName(repo); err != nil {
		return Accepted{}, err
	}
	// A line torn by a crash is left out by readLog: the one before it stands.
	log, err := readLog[Accepted](s.acceptedLog(repo))
	if err != nil {
		return Accepted{}, fmt.Errorf("accepted upstream of repo %s: %w", repo, err)
	}
	if len(log) == 0 {
		return Accepted{}, fmt.Errorf("accepted upstream of repo %s: %w", repo, ErrNotFound)
	}
	return log[len(log)-1], nil
}

// RecordAccepted appends a to repo's log of accepted upstream indexes,
// durably. An empty a.Time is now.
func (s *Store) RecordAccepted(repo string, a Accepted) error {
	if err := CheckRepoName(repo); err != nil {
		return err
	}
	if a.Time.IsZero() {
		a.Time = time.Now()
	}
	a.Time = a.Time.UTC()
	if err := appendLog(s.acceptedLog(repo), a); err != nil {
		return fmt.Errorf("record accepted upstream of repo %s: %w", repo, err)
	}
	return nil
}
