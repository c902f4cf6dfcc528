package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/osflow/osflow/internal/approvalsig"
)

// Provenance is why a release may be served by production: the candidate
// the test cycle made of it (the gate it passed, the rounds, the rehearsal)
// and every promotion that took it there. It lives beside the releases in
// STORE/provenance/<release>/ and garbage collection never touches it: it
// is the audit trail, needed even after the release itself is gone.

// PromotionRecord is one promotion's switch of a channel to a release.
type PromotionRecord struct {
	// Key is the operation key of the switch, as in the channel's log.
	Key         string    `json:"key"`
	Promotion   string    `json:"promotion"` // workflow ID
	Run         string    `json:"run"`
	Channel     string    `json:"channel"`
	Approver    string    `json:"approver"`
	Comment     string    `json:"comment,omitempty"`
	WindowStart time.Time `json:"windowStart"`
	WindowEnd   time.Time `json:"windowEnd"`
	Time        time.Time `json:"time"`
	// Outcome is filled in by a later record with the same key: done,
	// rolled-back.
	Outcome string `json:"outcome,omitempty"`
	// Signed is the approval's signed statement, when it was signed
	// (production.requireSignedApprovals).
	Signed *approvalsig.Signed `json:"signed,omitempty"`
}

func (s *Store) provenanceDir(release string) string { return s.path("provenance", release) }

// RecordCandidate keeps the candidate of a release (any JSON value); a
// later candidate of the same release replaces it.
func (s *Store) RecordCandidate(release string, candidate any) error {
	if err := checkReleaseID(release); err != nil {
		return err
	}
	if err := os.MkdirAll(s.provenanceDir(release), 0o755); err != nil {
		return fmt.Errorf("record candidate of %s: %w", release, err)
	}
	return s.writeJSON(filepath.Join(s.provenanceDir(release), "candidate.json"), candidate)
}

// Candidate reads the candidate of a release into v; ErrNotFound if the
// release never became one.
func (s *Store) Candidate(release string, v any) error {
	if err := checkReleaseID(release); err != nil {
		return err
	}
	if err := readJSON(filepath.Join(s.provenanceDir(release), "candidate.json"), v); err != nil {
		return fmt.Errorf("candidate of release %s: %w", release, err)
	}
	return nil
}

// RecordPromotion appends a promotion's record to the release's
// provenance. A record whose key and outcome are already there is not
// written again, so a retried activity records once.
func (s *Store) RecordPromotion(ctx context.Context, release string, rec PromotionRecord) error {
	if err := checkReleaseID(release); err != nil {
		return err
	}
	if rec.Key == "" {
		return fmt.Errorf("record promotion of %s: no operation key: %w", release, ErrInvalid)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return fmt.Errorf("record promotion of %s: %w", release, err)
	}
	defer unlock()
	have, err := s.Promotions(release)
	if err != nil {
		return err
	}
	for _, h := range have {
		if h.Key == rec.Key && h.Outcome == rec.Outcome {
			return nil
		}
	}
	if err := os.MkdirAll(s.provenanceDir(release), 0o755); err != nil {
		return fmt.Errorf("record promotion of %s: %w", release, err)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return appendLine(filepath.Join(s.provenanceDir(release), "promotions.log"), line)
}

// Promotions lists a release's promotion records, oldest first.
// PromotionDone reports whether a promotion of release to channel ended
// done: its outage completed, not rolled back.
func (s *Store) PromotionDone(release, channel string) (bool, error) {
	recs, err := s.Promotions(release)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.Channel == channel && r.Outcome == "done" {
			return true, nil
		}
	}
	return false, nil
}

func (s *Store) Promotions(release string) ([]PromotionRecord, error) {
	if err := checkReleaseID(release); err != nil {
		return nil, err
	}
	recs, err := readLog[PromotionRecord](filepath.Join(s.provenanceDir(release), "promotions.log"))
	if err != nil {
		return nil, fmt.Errorf("promotions of %s: %w", release, err)
	}
	return recs, nil
}
