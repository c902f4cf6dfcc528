// Package repo is osflow's repository store: a content-addressed pool,
// immutable snapshots and releases, and atomically switched, audited channels.
//
// Layout under the store root:
//
//	pool/<algo>/ab/<hex>                    every file once, immutable
//	snapshots/<repo>/<id>/                  hardlinks into the pool, laid out as upstream
//	snapshots/<repo>/<id>.manifest          package manifest (JSON lines)
//	snapshots/<repo>/<id>.json              provenance
//	releases/<id>/<repo> -> ../../snapshots/<repo>/<snapshot-id>
//	releases/<id>.json                      release record
//	channels/<channel> -> ../releases/<id>  switched with rename(2)
//	channels/<channel>.prev -> ../releases/<id>  the release served before the last switch
//	channels/<channel>.log                  append-only audit log (JSON lines)
//	channels/<channel>.freeze               present while the channel is frozen (who, when, why)
//	overlays/<repo>/                        site RPMs for an overlay repo
//	tmp/                                    staging, same filesystem as the pool
package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Store is the repository store rooted at one directory. Its methods are
// safe for concurrent use by goroutines and by processes sharing the root:
// everything that re-points something visible takes the store's lock file.
type Store struct {
	root string
	// shards caches the pool directories known to exist.
	shards sync.Map
	// unnamed records whether the filesystem supports unnamed files, and
	// whether they are linked by descriptor (see unnamedFiles).
	unnamed struct {
		once     sync.Once
		ok, byFD bool
		// readOnly: they are born 0444 (the umask takes no bit of it),
		// so a commit needs no chmod.
		readOnly bool
	}
	// unsynced counts the bytes committed since the last background
	// flush; flushing is set while one runs (see paceWriteback).
	unsynced atomic.Int64
	flushing atomic.Bool
	// crash, set only by tests, is called at every crash point (see
	// crashpoint.go); an error it returns fails the operation there.
	crash func(crashPoint) error
	// LinkLimit is the most links one snapshot adds to one pool object;
	// past it, the snapshot links a copy (see linkTree). 0: DefaultLinkLimit.
	LinkLimit int
}

// DefaultLinkLimit keeps the links one snapshot adds to a pool object at
// half ext4's limit of 65,000 per inode, so that a hostile repo listing
// one checksum under many names leaves room for every other snapshot.
const DefaultLinkLimit = 32000

func (s *Store) linkLimit() int {
	if s.LinkLimit > 0 {
		return s.LinkLimit
	}
	return DefaultLinkLimit
}

// storeDirs are created by Open so that no method has to MkdirAll them.
var storeDirs = []string{"pool", "snapshots", "releases", "channels", "overlays", "tmp"}

// Open opens (creating if needed) the store rooted at root.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	for _, d := range storeDirs {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("open store %s: %w", abs, err)
		}
	}
	return &Store{root: abs}, nil
}

// Root is the store's root directory.
func (s *Store) Root() string { return s.root }

// TempDir is a staging directory on the pool's filesystem, so rename(2) into the pool works.
func (s *Store) TempDir() string { return filepath.Join(s.root, "tmp") }

// Sync makes everything written to the store's filesystem durable with one
// syncfs(2): the pool is filled without per-file fsync, and CommitSnapshot
// syncs once before the snapshot naming a batch of objects becomes visible.
func (s *Store) Sync() error {
	f, err := os.Open(s.root)
	if err != nil {
		return fmt.Errorf("sync store %s: %w", s.root, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync store %s: %w", s.root, err)
	}
	return nil
}

// path joins elements onto the store root.
func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// Errors callers classify on. Each is wrapped with context saying what and where.
var (
	// ErrBadContent marks content that retrying cannot fix: a checksum
	// mismatch, an href outside the repo, malformed or oversized metadata.
	ErrBadContent = errors.New("bad repository content")
	// ErrNotFound marks a snapshot, release or channel that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid marks bad caller input: a bad name, a file that is not an RPM.
	ErrInvalid = errors.New("invalid input")
	// ErrFrozen marks a switch refused because the channel is frozen.
	ErrFrozen = errors.New("channel is frozen")
)

// Checksum is a digest as rpm-md names it: Algo is "sha256", "sha512" ...
type Checksum struct {
	Algo string `json:"algo"`
	Hex  string `json:"hex"`
}

func (c Checksum) String() string { return c.Algo + ":" + c.Hex }

// Package is one entry of a snapshot's manifest.
type Package struct {
	Name     string   `json:"name"`
	Epoch    string   `json:"epoch"`
	Version  string   `json:"version"`
	Release  string   `json:"release"`
	Arch     string   `json:"arch"`
	Checksum Checksum `json:"checksum"`
	Size     int64    `json:"size"`
	Href     string   `json:"href"`
}

// NEVRA renders name-[epoch:]version-release.arch the way rpm prints it.
func (p Package) NEVRA() string {
	evr := p.Version + "-" + p.Release
	if p.Epoch != "" && p.Epoch != "0" {
		evr = p.Epoch + ":" + evr
	}
	return p.Name + "-" + evr + "." + p.Arch
}

// File is one file of a snapshot tree: its path relative to the repo root
// and the pool object holding its bytes.
type File struct {
	Path     string   `json:"path"`
	Checksum Checksum `json:"checksum"`
	Size     int64    `json:"size"`
}

// Snapshot is the immutable record of one repo at one moment.
type Snapshot struct {
	Repo      string    `json:"repo"`
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"createdAt"`
	// Repomd is the sha256 of repomd.xml; an unchanged upstream has the same.
	Repomd   string `json:"repomd"`
	Packages int    `json:"packages"`
	Bytes    int64  `json:"bytes"`
	// Tree is set for a distribution tree, whose Repomd is empty.
	Tree *Tree `json:"tree,omitempty"`
}

// Release is an immutable set {repo → snapshot ID}.
type Release struct {
	ID        string            `json:"id"`
	CreatedAt time.Time         `json:"createdAt"`
	Repos     map[string]string `json:"repos"`
	// Stale are the repos that could not sync for this release and serve
	// the snapshot an earlier release had, by name.
	Stale map[string]StaleRepo `json:"stale,omitempty"`
}

// StaleRepo is a repo a release carries over from an earlier one because
// its sync failed: since when it has failed, and why.
type StaleRepo struct {
	// Since is when the outage began: the creation time of the first
	// release that marked the repo stale.
	Since time.Time `json:"since"`
	URL   string    `json:"url,omitempty"`
	Cause string    `json:"cause"`
}

// Switch is one entry of a channel's audit log.
type Switch struct {
	Time    time.Time `json:"time"`
	Channel string    `json:"channel"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	// Key is the operation that asked for it; retries find it here.
	Key string `json:"key,omitempty"`
	// Outcome is OutcomeSwitched (also for entries written before keys
	// existed, which have none), OutcomeUnchanged or OutcomeFrozen; or
	// OutcomeFreeze or OutcomeUnfreeze for a freeze operation.
	Outcome string `json:"outcome,omitempty"`
	// Requested is the release a frozen channel was asked to serve.
	Requested string `json:"requested,omitempty"`
	// Kind says what sort of switch it was when its writer knows:
	// KindRollback for every Rollback. Entries without one are told
	// apart by their key (see starter's audit).
	Kind string `json:"kind,omitempty"`
	// Intent is set on an OutcomeIntent line: the outcome the operation
	// announced before its first durable change (OutcomeSwitched,
	// OutcomeFreeze or OutcomeUnfreeze). History leaves these lines out.
	Intent string `json:"intent,omitempty"`
}

// Outcomes in a channel's audit log: of a switch, and of a freeze.
const (
	OutcomeSwitched  = "switched"
	OutcomeUnchanged = "unchanged"
	// OutcomeFrozen: the channel was frozen and stayed.
	OutcomeFrozen   = "frozen"
	OutcomeFreeze   = "freeze"
	OutcomeUnfreeze = "unfreeze"
	// OutcomeIntent marks a line written before an operation's first
	// durable change, naming its absolute target: a retry, or the next
	// operation on the channel, reads from the store whether the change
	// happened and completes the record (see settle).
	OutcomeIntent = "intent"
)

// KindRollback marks the entries Rollback writes: PreviousRelease reads
// the log as a stack, and a rollback pops it.
const KindRollback = "rollback"

// Moved reports whether the entry records the channel moving; an intent
// records only that it was about to.
func (s Switch) Moved() bool { return s.From != s.To && s.Outcome != OutcomeIntent }
