package repo

import (
	"context"
	"fmt"
	"time"
)

// This file serves the overlay source watcher: the journal of what it did
// with each vendor file (overlays/.<repo>.sources.log; a repo name never
// starts with a dot).

// What the source watcher did with a vendor file, as SourceEntry.Action.
const (
	// SourceSeen: downloaded, verified and found no newer than the
	// overlay; its validators (ETag, Last-Modified) and checksum spare
	// the next check the download.
	SourceSeen = "seen"
	// SourceAdded: added to the overlay, for the next daily sync.
	SourceAdded = "added"
	// SourceBypass: an emergency bypass is started with it (recorded
	// before the start, so that no second bypass is ever started for it).
	SourceBypass = "bypass"
	// SourceBypassFailed: the bypass could not be started; the file is
	// new again for the next check.
	SourceBypassFailed = "bypass-failed"
)

// SourceEntry is one line of an overlay's source journal.
type SourceEntry struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Source string    `json:"source"` // the configured source URL
	URL    string    `json:"url"`    // the file's URL
	SHA256 string    `json:"sha256"`
	NEVRA  string    `json:"nevra,omitempty"`
	Size   int64     `json:"size,omitempty"`
	// ETag and LastModified are the response's validators, for a
	// conditional request next time.
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	// Key is the operation that wrote the entry; a retry of it finds it.
	Key    string `json:"key,omitempty"`
	Bypass string `json:"bypass,omitempty"` // the bypass's workflow ID
	Error  string `json:"error,omitempty"`
}

func (s *Store) sourceLog(repo string) string { return s.path("overlays", "."+repo+".sources.log") }

// SourceLog reads an overlay's source journal, oldest first; empty when
// nothing was ever watched.
func (s *Store) SourceLog(repo string) ([]SourceEntry, error) {
	if err := CheckRepoName(repo); err != nil {
		return nil, err
	}
	log, err := readLog[SourceEntry](s.sourceLog(repo))
	if err != nil {
		return nil, fmt.Errorf("source journal of overlay %s: %w", repo, err)
	}
	return log, nil
}

// RecordSources appends entries to an overlay's source journal under the
// overlay's lock, each synced before it returns.
func (s *Store) RecordSources(ctx context.Context, repo string, entries []SourceEntry) error {
	if err := CheckRepoName(repo); err != nil {
		return err
	}
	_, unlock, err := s.lockOverlay(ctx, repo)
	if err != nil {
		return fmt.Errorf("source journal of overlay %s: %w", repo, err)
	}
	defer unlock()
	for _, e := range entries {
		if e.Time.IsZero() {
			e.Time = time.Now().UTC()
		}
		if err := appendLog(s.sourceLog(repo), e); err != nil {
			return fmt.Errorf("source journal of overlay %s: %w", repo, err)
		}
	}
	return nil
}
