package tickets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osflow/osflow/internal/flock"
)

// DefaultPrefix starts the IDs a FileTracker allocates: OSF-1, OSF-2, ...
const DefaultPrefix = "OSF"

// FileTracker keeps one Markdown file per ticket, <Dir>/<ID>.md (see
// markdown.go for the format). The zero Prefix means DefaultPrefix.
//
// Every mutation runs under an flock on <Dir>/.lock and replaces the file
// through a temporary file and a rename, so concurrent goroutines and
// processes never lose an update or allocate the same ID, and a reader
// (which takes no lock) sees each file whole. Every ticket in Dir counts as
// managed by osflow.
type FileTracker struct {
	Dir    string
	Prefix string
	// Crash is a test hook called after each durable step (crashpoint.go).
	Crash CrashHook

	now func() time.Time // tests pin the clock; nil means time.Now
}

var _ Tracker = (*FileTracker)(nil)

var (
	prefixRE       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	ticketNumberRE = regexp.MustCompile(`^[1-9][0-9]{0,8}$`) // no sign, no leading zero: one spelling per ID
)

// FindOpen returns the oldest open ticket carrying fingerprint, or nil.
func (f *FileTracker) FindOpen(ctx context.Context, fingerprint string) (*Ticket, error) {
	if err := validateFingerprint(fingerprint); err != nil {
		return nil, err
	}
	docs, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if d.meta.State == StateOpen && d.meta.Fingerprint == fingerprint {
			tk := f.ticket(d)
			return &tk, nil
		}
	}
	return nil, nil
}

// ListOpen lists the open tickets that have all of labels, oldest first.
func (f *FileTracker) ListOpen(ctx context.Context, labels ...string) ([]Ticket, error) {
	out, bad, err := f.listReadable(ctx, labels)
	if err == nil && len(bad) > 0 {
		return nil, bad[0]
	}
	return out, err
}

// Create files t, or returns the open ticket that already carries its
// fingerprint. The check and the write happen under one lock.
func (f *FileTracker) Create(ctx context.Context, t NewTicket) (Ticket, error) {
	return f.filer().Create(ctx, t)
}

// Comment appends a "## Comment" section to ticket id.
func (f *FileTracker) Comment(ctx context.Context, id, body string) error {
	return f.locked(ctx, func() error { return f.comment(ctx, id, body) })
}

// Close appends comment (unless empty) and marks ticket id closed. The
// first close time is kept when a closed ticket is closed again.
func (f *FileTracker) Close(ctx context.Context, id, comment string) error {
	return f.locked(ctx, func() error {
		err := f.modify(id, func(d *ticketDoc, now time.Time) {
			if strings.TrimSpace(comment) != "" {
				d.addComment(now, comment)
			}
			if d.meta.State != StateClosed {
				d.meta.State, d.meta.Closed = StateClosed, &now
			}
		})
		if err != nil {
			return err
		}
		return f.Crash.reached(AtClose)
	})
}

// HasMarker reports whether ticket id's text carries key's marker.
func (f *FileTracker) HasMarker(ctx context.Context, id, key string) (bool, error) {
	p, err := f.path(id)
	if err != nil {
		return false, err
	}
	d, err := readTicketDoc(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("%w: ticket %s (no %s)", ErrNotFound, id, p)
	}
	if err != nil {
		return false, err
	}
	return strings.Contains(d.text, Marker(key)), nil
}

// fileOrComment makes FileOrComment atomic: the lookup and the create or
// comment run under one lock, so racing callers see each other's ticket.
func (f *FileTracker) fileOrComment(ctx context.Context, t NewTicket, comment string) (Ticket, bool, error) {
	return f.filer().fileOrComment(ctx, t, comment)
}

func (f *FileTracker) filer() lockedFiler {
	return lockedFiler{steps: filingSteps{f.FindOpen, f.comment, f.create}, lock: f.locked}
}

// comment is Comment for a caller holding the lock.
func (f *FileTracker) comment(_ context.Context, id, body string) error {
	if err := validateComment(body); err != nil {
		return err
	}
	if err := f.modify(id, func(d *ticketDoc, now time.Time) { d.addComment(now, body) }); err != nil {
		return err
	}
	return f.Crash.reached(AtComment)
}

// create writes a new ticket with the next free ID. Callers hold the lock.
func (f *FileTracker) create(ctx context.Context, t NewTicket) (Ticket, error) {
	docs, err := f.load(ctx)
	if err != nil {
		return Ticket{}, err
	}
	next := 1
	if len(docs) > 0 {
		// IDs come from the files, not a counter, so there is no second
		// piece of state to keep in step. load sorts by number.
		next = f.number(docs[len(docs)-1].meta.ID) + 1
	}
	d := newTicketDoc(frontMatter{
		ID:          f.prefix() + "-" + strconv.Itoa(next),
		Fingerprint: t.Fingerprint,
		State:       StateOpen,
		Labels:      slices.Clone(t.Labels),
		Created:     f.clock(),
	}, t.Title, t.Body)
	if err := f.write(d); err != nil {
		return Ticket{}, err
	}
	if err := f.Crash.reached(AtCreate); err != nil {
		return Ticket{}, err
	}
	return f.ticket(d), nil
}

// modify applies change to ticket id and writes it back. Callers hold the
// lock.
func (f *FileTracker) modify(id string, change func(d *ticketDoc, now time.Time)) error {
	p, err := f.path(id)
	if err != nil {
		return err
	}
	d, err := readTicketDoc(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: ticket %s (no %s)", ErrNotFound, id, p)
	}
	if err != nil {
		return err
	}
	change(&d, f.clock())
	return f.write(d)
}

// locked runs fn under the directory lock, creating Dir if needed.
func (f *FileTracker) locked(ctx context.Context, fn func() error) error {
	if err := f.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("ticket directory: %w", err)
	}
	unlock, err := flock.Lock(ctx, filepath.Join(f.Dir, ".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// load parses every ticket file in Dir, sorted by ID number. A missing Dir
// holds no tickets. A file that does not parse is an error naming it rather
// than skipped: skipping it could file a duplicate of the ticket it holds.
func (f *FileTracker) load(ctx context.Context) ([]ticketDoc, error) {
	docs, bad, err := f.loadAll(ctx)
	if err == nil && len(bad) > 0 {
		err = bad[0]
	}
	return docs, err
}

// loadAll is load that goes on past the files that do not parse and
// returns their errors, each naming its file.
func (f *FileTracker) loadAll(ctx context.Context) ([]ticketDoc, []error, error) {
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(f.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ticket directory: %w", err)
	}
	var docs []ticketDoc
	var bad []error
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".md")
		if !ok || f.number(id) == 0 {
			continue // README.md, .lock, temporary files
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		d, err := readTicketDoc(filepath.Join(f.Dir, e.Name()))
		if err == nil && d.meta.ID != id {
			err = fmt.Errorf("ticket file %s: front matter says id %q", filepath.Join(f.Dir, e.Name()), d.meta.ID)
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		docs = append(docs, d)
	}
	slices.SortFunc(docs, func(a, b ticketDoc) int { return f.number(a.meta.ID) - f.number(b.meta.ID) })
	return docs, bad, nil
}

// listReadable is ListOpen past the files that do not parse (readable.go).
func (f *FileTracker) listReadable(ctx context.Context, labels []string) ([]Ticket, []error, error) {
	if err := validateLabels(labels); err != nil {
		return nil, nil, err
	}
	docs, bad, err := f.loadAll(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []Ticket
	for _, d := range docs {
		if d.meta.State == StateOpen && hasLabels(d.meta.Labels, labels) {
			out = append(out, f.ticket(d))
		}
	}
	return out, bad, nil
}

func readTicketDoc(p string) (ticketDoc, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return ticketDoc{}, fmt.Errorf("read ticket: %w", err)
	}
	d, err := parseTicketDoc(data)
	if err != nil {
		return ticketDoc{}, fmt.Errorf("ticket file %s: %w", p, err)
	}
	return d, nil
}

// write replaces the ticket's file through a synced temporary file and a
// rename, so a reader without the lock never sees half a ticket.
func (f *FileTracker) write(d ticketDoc) error {
	data, err := d.render()
	if err != nil {
		return err
	}
	dst := filepath.Join(f.Dir, d.meta.ID+".md")
	tmp, err := os.CreateTemp(f.Dir, "."+d.meta.ID+".md.tmp-*")
	if err != nil {
		return fmt.Errorf("write ticket %s: %w", dst, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err == nil {
		err = syncDir(f.Dir)
	}
	if err != nil {
		return fmt.Errorf("write ticket %s: %w", dst, err)
	}
	return nil
}

// syncDir fsyncs a directory so that a rename into it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (f *FileTracker) ticket(d ticketDoc) Ticket {
	p, _ := filepath.Abs(filepath.Join(f.Dir, d.meta.ID+".md"))
	var labels []string // nil when none, as from GitHub, whatever YAML made of "[]"
	if len(d.meta.Labels) > 0 {
		labels = slices.Clone(d.meta.Labels)
	}
	return Ticket{
		ID:          d.meta.ID,
		Fingerprint: d.meta.Fingerprint,
		Title:       d.title(),
		State:       d.meta.State,
		Labels:      labels,
		URL:         (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String(),
		Created:     d.meta.Created,
	}
}

// path maps id to its file, rejecting anything but <prefix>-<n> so that an
// ID can never name a file outside Dir.
func (f *FileTracker) path(id string) (string, error) {
	if err := f.check(); err != nil {
		return "", err
	}
	if f.number(id) == 0 {
		return "", fmt.Errorf("%w: ticket ID %q, want %s-<number>", ErrInvalid, id, f.prefix())
	}
	return filepath.Join(f.Dir, id+".md"), nil
}

// number is n for the ID "<prefix>-<n>", or 0 when id is not one of ours.
func (f *FileTracker) number(id string) int {
	s, ok := strings.CutPrefix(id, f.prefix()+"-")
	if !ok || !ticketNumberRE.MatchString(s) {
		return 0
	}
	n, _ := strconv.Atoi(s) // at most 9 digits: cannot overflow
	return n
}

func (f *FileTracker) prefix() string {
	if f.Prefix == "" {
		return DefaultPrefix
	}
	return f.Prefix
}

func (f *FileTracker) check() error {
	if f.Dir == "" {
		return fmt.Errorf("%w: file tracker: no directory configured", ErrInvalid)
	}
	if !prefixRE.MatchString(f.prefix()) {
		return fmt.Errorf("%w: file tracker %s: prefix %q must be a letter then letters, digits or _", ErrInvalid, f.Dir, f.Prefix)
	}
	return nil
}

func (f *FileTracker) clock() time.Time {
	now := time.Now
	if f.now != nil {
		now = f.now
	}
	// Whole seconds: the front matter and comment headings are for humans.
	return now().UTC().Truncate(time.Second)
}
