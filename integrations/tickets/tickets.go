// Package tickets files, finds, comments on and closes the tickets that
// osflow raises for integration-test failures.
//
// Every ticket carries a fingerprint: a stable string naming the failure
// (suite, case, channel...). FileOrComment files a new ticket for a
// fingerprint, or comments on the open ticket that already carries it, so a
// failure that repeats on every cycle stays one ticket with a history rather
// than a pile of duplicates.
//
// Two trackers implement the Tracker interface:
//
//   - FileTracker, the embedded default: one Markdown file per ticket in a
//     directory, safe for concurrent goroutines and processes.
//   - GitHub: issues in one repository, through go-github.
package tickets

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Ticket states.
const (
	StateOpen   = "open"
	StateClosed = "closed"
)

// maxLabelLen is GitHub's limit on a label name. Every tracker enforces it
// so that a label that works with the file tracker works everywhere.
const maxLabelLen = 50

// Ticket is one ticket as its tracker reports it.
type Ticket struct {
	ID          string // tracker's ID: "OSF-12" (file), "12" (GitHub issue number)
	Fingerprint string
	Title       string
	State       string // StateOpen or StateClosed
	Labels      []string
	URL         string // where a human reads it: file:// or https://
	Created     time.Time
}

// NewTicket is what FileOrComment and Tracker.Create file.
type NewTicket struct {
	Fingerprint string // stable name of the failure; one line, no "-->"
	Title       string // one line
	Body        string // Markdown
	Labels      []string
}

// Tracker is a ticket system.
type Tracker interface {
	// FindOpen returns the open ticket carrying fingerprint, or nil. If
	// several do (filed by hand, or by racing processes against GitHub), it
	// returns the oldest.
	FindOpen(ctx context.Context, fingerprint string) (*Ticket, error)
	// Create files t, unless an open ticket already carries t.Fingerprint:
	// then it returns that ticket. A retried Create therefore never
	// duplicates a ticket whose first attempt succeeded unseen.
	Create(ctx context.Context, t NewTicket) (Ticket, error)
	// Comment adds body to the ticket id, open or closed.
	Comment(ctx context.Context, id, body string) error
	// Close adds comment (unless empty) and closes the ticket id. Closing a
	// closed ticket is not an error.
	Close(ctx context.Context, id, comment string) error
	// ListOpen lists every open ticket osflow manages (carrying the managed
	// label), oldest first, optionally only those with all of labels
	// (compared case-insensitively, as GitHub does).
	ListOpen(ctx context.Context, labels ...string) ([]Ticket, error)
	// HasMarker reports whether ticket id's body or one of its comments
	// carries Marker(key): whether operation key already wrote there.
	HasMarker(ctx context.Context, id, key string) (bool, error)
}

// Marker is the hidden line that records, in a ticket body or comment,
// the operation that wrote it, so that a retried operation can tell
// whether its first attempt got through. It renders as nothing in
// Markdown.
func Marker(key string) string {
	return "<!-- osflow-op: " + strings.ReplaceAll(key, "--", "- -") + " -->"
}

// WithMarker appends key's marker to text; an empty key adds nothing.
func WithMarker(text, key string) string {
	if key == "" {
		return text
	}
	return strings.TrimRight(text, "\n") + "\n\n" + Marker(key) + "\n"
}

// FileOrComment files t, or comments on the open ticket with the same
// fingerprint: never a duplicate. created reports which happened. When t is
// filed, comment is not added: t.Body describes the first occurrence.
func FileOrComment(ctx context.Context, tr Tracker, t NewTicket, comment string) (tk Ticket, created bool, err error) {
	if err := t.validate(); err != nil {
		return Ticket{}, false, err
	}
	// Checked here although only needed for an existing ticket, so that a
	// bad call fails the same way whatever the tracker holds.
	if err := validateComment(comment); err != nil {
		return Ticket{}, false, err
	}
	if a, ok := tr.(atomicFiler); ok {
		tk, created, err = a.fileOrComment(ctx, t, comment)
	} else {
		tk, created, err = findCommentOrCreate(ctx, filingSteps{tr.FindOpen, tr.Comment, tr.Create}, t, comment)
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("file or comment ticket %q: %w", t.Fingerprint, err)
	}
	return tk, created, nil
}

// atomicFiler is a tracker that can run FileOrComment's find-then-file
// step as one unit (under a lock), so that concurrent callers never both
// miss the ticket and file two.
type atomicFiler interface {
	fileOrComment(ctx context.Context, t NewTicket, comment string) (Ticket, bool, error)
}

// filingSteps are the tracker operations FileOrComment is made of, in the
// form that may run while the tracker's lock is held (they must not take
// it again).
type filingSteps struct {
	find    func(ctx context.Context, fingerprint string) (*Ticket, error)
	comment func(ctx context.Context, id, body string) error
	create  func(ctx context.Context, t NewTicket) (Ticket, error) // files unconditionally
}

// findCommentOrCreate is the find-then-file step. It is atomic only if the
// caller serialises it.
func findCommentOrCreate(ctx context.Context, s filingSteps, t NewTicket, comment string) (Ticket, bool, error) {
	open, err := s.find(ctx, t.Fingerprint)
	if err != nil {
		return Ticket{}, false, err
	}
	if open != nil {
		if err := s.comment(ctx, open.ID, comment); err != nil {
			return Ticket{}, false, err
		}
		return *open, false, nil
	}
	tk, err := s.create(ctx, t)
	if err != nil {
		return Ticket{}, false, err
	}
	return tk, true, nil
}

// lockedFiler runs a tracker's filing steps under the tracker's lock:
// Create is then idempotent per fingerprint and FileOrComment never files
// a duplicate, for every caller that shares the lock.
type lockedFiler struct {
	steps filingSteps
	lock  func(ctx context.Context, fn func() error) error
}

func (l lockedFiler) Create(ctx context.Context, t NewTicket) (tk Ticket, err error) {
	if err := t.validate(); err != nil {
		return Ticket{}, err
	}
	err = l.lock(ctx, func() error {
		open, err := l.steps.find(ctx, t.Fingerprint)
		if err != nil {
			return err
		}
		if open != nil {
			tk = *open
			return nil
		}
		tk, err = l.steps.create(ctx, t)
		return err
	})
	return tk, err
}

func (l lockedFiler) fileOrComment(ctx context.Context, t NewTicket, comment string) (tk Ticket, created bool, err error) {
	err = l.lock(ctx, func() (err error) {
		tk, created, err = findCommentOrCreate(ctx, l.steps, t, comment)
		return err
	})
	return tk, created, err
}

// validate checks what every tracker needs: a fingerprint that fits on one
// line and inside an HTML comment (GitHub's body marker), a one-line title,
// and labels GitHub accepts and that survive a comma-separated filter.
func (t NewTicket) validate() error {
	if err := validateFingerprint(t.Fingerprint); err != nil {
		return err
	}
	if strings.TrimSpace(t.Title) == "" || strings.ContainsAny(t.Title, "\r\n") {
		return fmt.Errorf("%w: ticket %q: title must be one non-empty line, got %q", ErrInvalid, t.Fingerprint, t.Title)
	}
	return validateLabels(t.Labels)
}

func validateFingerprint(fp string) error {
	if strings.TrimSpace(fp) != fp || fp == "" || strings.ContainsAny(fp, "\r\n") || strings.Contains(fp, "-->") {
		return fmt.Errorf("%w: fingerprint %q: must be one non-empty line without surrounding spaces or \"-->\"", ErrInvalid, fp)
	}
	return nil
}

func validateLabels(labels []string) error {
	for _, l := range labels {
		if strings.TrimSpace(l) != l || l == "" || len(l) > maxLabelLen || strings.ContainsAny(l, ",\r\n") {
			return fmt.Errorf("%w: label %q: must be 1 to %d characters without commas, line breaks or surrounding spaces", ErrInvalid, l, maxLabelLen)
		}
	}
	return nil
}

func validateComment(body string) error {
	if strings.TrimSpace(body) == "" {
		return fmt.Errorf("%w: empty comment", ErrInvalid)
	}
	return nil
}

// hasLabels reports whether have contains every label in want, compared
// case-insensitively as GitHub compares label names.
func hasLabels(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return false
		}
	}
	return true
}
