package repo

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// This file serves the overlay source watcher: reading an RPM's header,
// and the journal of what the watcher did with each vendor file
// (overlays/.<repo>.sources.log; a repo name never starts with a dot).

// RPMInfo is what an RPM's header says it is.
type RPMInfo struct {
	Name, Epoch, Version, Release, Arch string // Epoch is "0" when the header has none
}

// NEVRA is name-[epoch:]version-release.arch, as rpm's %{NEVRA} writes it
// (the epoch only when it is not 0) and as the overlay names its files.
func (r RPMInfo) NEVRA() string {
	evr := r.Version + "-" + r.Release
	if r.Epoch != "" && r.Epoch != "0" {
		evr = r.Epoch + ":" + evr
	}
	return r.Name + "-" + evr + "." + r.Arch
}

// ReadRPM asks the real rpm what file is, as OverlayAdd does: a file
// without the RPM lead, or one rpm cannot read, is ErrInvalid with rpm's
// message. The signature is not checked here.
func ReadRPM(ctx context.Context, file string) (RPMInfo, error) {
	if err := checkRPMLead(file); err != nil {
		return RPMInfo{}, err
	}
	abs, err := filepath.Abs(file) // a name starting with "-" is no option
	if err != nil {
		return RPMInfo{}, fmt.Errorf("%s: %w", file, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "rpm", "-qp", "--nosignature",
		"--qf", `%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n`, abs)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return RPMInfo{}, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return RPMInfo{}, fmt.Errorf("%s is not a readable RPM: %s: %w", file, msg, ErrInvalid)
	}
	f := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\t")
	if len(f) != 5 {
		return RPMInfo{}, fmt.Errorf("%s: rpm reports %q: %w", file, stdout.String(), ErrInvalid)
	}
	info := RPMInfo{Name: f[0], Epoch: f[1], Version: f[2], Release: f[3], Arch: f[4]}
	for _, v := range f {
		if v == "" || strings.ContainsAny(v, "/\n\x00 ") {
			return RPMInfo{}, fmt.Errorf("%s: rpm reports NEVRA %q: %w", file, info.NEVRA(), ErrInvalid)
		}
	}
	if strings.HasPrefix(info.Name, ".") {
		return RPMInfo{}, fmt.Errorf("%s: rpm reports NEVRA %q: %w", file, info.NEVRA(), ErrInvalid)
	}
	return info, nil
}

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
