package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osflow/osflow/internal/flock"
)

// OverlayRPM is one site RPM of an overlay repo.
type OverlayRPM struct {
	File    string // path of the RPM in the store
	NEVRA   string // as the file is named: without the epoch
	Size    int64
	ModTime time.Time
}

func (s *Store) overlayDir(repo string) string { return s.path("overlays", repo) }

// lockOverlay creates an overlay's directory and takes its lock, which
// serialises changes to the overlay with createrepo_c runs on it without
// holding the store lock through a slow createrepo_c. A repo name cannot
// start with a dot, so the lock file names no repo.
func (s *Store) lockOverlay(ctx context.Context, repo string) (dir string, unlock func(), err error) {
	dir = s.overlayDir(repo)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	unlock, err = flock.Lock(ctx, s.path("overlays", "."+repo+".lock"))
	return dir, unlock, err
}

// overlayName is the file name an overlay keeps a package under: rpm's
// own name-version-release.arch.rpm. The epoch stays out: rpm writes it
// as "1:", and a colon in an href's first segment reads as a URL scheme,
// which the mirror refuses (rpmmd.CheckHref), so the overlay would no
// longer sync.
func (i RPMInfo) overlayName() string {
	return fmt.Sprintf("%s-%s-%s.%s.rpm", i.Name, i.Version, i.Release, i.Arch)
}

// rpmLead is the magic number every RPM file starts with.
var rpmLead = []byte{0xed, 0xab, 0xee, 0xdb}

func checkRPMLead(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("%s is not a readable RPM: %w: %w", file, err, ErrInvalid)
	}
	defer f.Close()
	lead := make([]byte, len(rpmLead))
	if _, err := io.ReadFull(f, lead); err != nil || !bytes.Equal(lead, rpmLead) {
		return fmt.Errorf("%s is not a readable RPM: no RPM lead: %w", file, ErrInvalid)
	}
	return nil
}

// OverlayAdd adds site RPMs to an overlay repo as
// overlays/<repo>/<name>-<version>-<release>.<arch>.rpm and returns their
// NEVRAs. Every file is checked with rpm before any is copied, so a bad
// file changes nothing. Re-adding an identical RPM is a no-op; a different
// RPM under a name the overlay already has is refused, because clients
// that installed the old build could never tell them apart.
func (s *Store) OverlayAdd(ctx context.Context, repo string, files []string) ([]string, error) {
	fail := func(err error) ([]string, error) { return nil, fmt.Errorf("add to overlay %s: %w", repo, err) }
	if err := CheckRepoName(repo); err != nil {
		return fail(err)
	}
	infos, err := InspectRPMs(ctx, files)
	if err != nil {
		return fail(err)
	}
	nevras, names := make([]string, len(files)), make([]string, len(files))
	for i, info := range infos {
		nevras[i], names[i] = info.NEVRA, info.overlayName()
	}
	dir, unlock, err := s.lockOverlay(ctx, repo)
	if err != nil {
		return fail(err)
	}
	defer unlock()

	// Stage every copy before the first rename so that an I/O error while
	// copying also leaves the overlay untouched.
	staged := map[string]string{} // destination → staged copy
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp)
		}
	}()
	source := map[string]string{} // destination → first file given for it
	for i, file := range files {
		dst := filepath.Join(dir, names[i])
		if first, dup := source[dst]; dup {
			if same, err := sameContent(file, first); err != nil || !same {
				return fail(fmt.Errorf("%s and %s are different builds of %s: %w", first, file, nevras[i], ErrInvalid))
			}
			continue
		}
		source[dst] = file
		same, err := sameContent(file, dst)
		if err != nil {
			return fail(err)
		}
		if same {
			continue
		}
		if _, err := os.Lstat(dst); err == nil {
			return fail(fmt.Errorf("%s: overlay already has a different %s; rebuild with a new release number: %w",
				file, nevras[i], ErrInvalid))
		}
		tmp, err := s.stageCopy(file)
		if err != nil {
			return fail(err)
		}
		staged[dst] = tmp
	}
	for dst, tmp := range staged {
		if err := os.Rename(tmp, dst); err != nil {
			return fail(err)
		}
		delete(staged, dst)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	return nevras, nil
}

// stageCopy copies file into tmp/ and fsyncs it.
func (s *Store) stageCopy(file string) (string, error) {
	src, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.CreateTemp(s.TempDir(), "overlay-*.rpm")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Chmod(0o644)
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst.Name())
		return "", fmt.Errorf("copy %s: %w", file, err)
	}
	return dst.Name(), nil
}

// sameContent reports whether b exists with the bytes of a.
func sameContent(a, b string) (bool, error) {
	hb, err := fileSHA256(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ha, err := fileSHA256(a)
	return err == nil && ha == hb, err
}

func fileSHA256(p string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("read %s: %w", p, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// OverlayList lists an overlay's RPMs sorted by file name; empty if the
// overlay has none.
func (s *Store) OverlayList(repo string) ([]OverlayRPM, error) {
	if err := CheckRepoName(repo); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.overlayDir(repo))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list overlay %s: %w", repo, err)
	}
	var rpms []OverlayRPM
	for _, e := range entries {
		nevra, ok := strings.CutSuffix(e.Name(), ".rpm")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("list overlay %s: %w", repo, err)
		}
		rpms = append(rpms, OverlayRPM{
			File:    filepath.Join(s.overlayDir(repo), e.Name()),
			NEVRA:   nevra,
			Size:    info.Size(),
			ModTime: info.ModTime(),
		})
	}
	return rpms, nil
}

// overlayRevision derives createrepo_c's --revision (a Unix time) from an
// overlay's content: the newest modification time of its RPMs, which
// OverlayAdd sets when it copies one in. An unchanged overlay gets a
// byte-identical repomd.xml, so the mirror sees no new snapshot. (The
// mirror does not hold an overlay to "never older than last time": the
// metadata is osflow's own, mirror.Source.Generated.)
func overlayRevision(rpms []OverlayRPM) string {
	var newest int64
	for _, r := range rpms {
		newest = max(newest, r.ModTime.Unix())
	}
	return strconv.FormatInt(newest, 10)
}

// OverlayPrepare regenerates an overlay's metadata with createrepo_c and
// returns the directory that holds repodata/, for the mirror to sync as
// file://dir/.
func (s *Store) OverlayPrepare(ctx context.Context, repo string) (dir string, err error) {
	err = s.WithOverlay(ctx, repo, func(d string) error { dir = d; return nil })
	return dir, err
}

// WithOverlay regenerates an overlay's metadata and runs fn on its
// directory, all under the overlay's lock, so the snapshot fn takes (the
// mirror syncing file://dir/) holds exactly what the overlay held.
func (s *Store) WithOverlay(ctx context.Context, repo string, fn func(dir string) error) error {
	fail := func(err error) error { return fmt.Errorf("prepare overlay %s: %w", repo, err) }
	if err := CheckRepoName(repo); err != nil {
		return fail(err)
	}
	dir, unlock, err := s.lockOverlay(ctx, repo)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	rpms, err := s.OverlayList(repo)
	if err != nil {
		return fail(err)
	}
	slices.SortFunc(rpms, func(a, b OverlayRPM) int { return strings.Compare(a.File, b.File) })
	// createrepo_c takes a tenth of a second even when nothing changed, on
	// every daily sync: skip it when the metadata was made from exactly
	// these files and is as it was made.
	stampFile := s.path("overlays", "."+repo+".generated")
	if stamp, err := os.ReadFile(stampFile); err == nil && len(stamp) > 0 && string(stamp) == overlayStamp(rpms, dir) {
		return fn(dir)
	}
	// createrepo_c stages in .repodata/ and refuses to start while one
	// exists; under the overlay lock, one can only be left by a crash.
	if err := os.RemoveAll(filepath.Join(dir, ".repodata")); err != nil {
		return fail(err)
	}
	if err := createrepo(ctx, dir, overlayRevision(rpms), "--update"); err != nil {
		return fail(err)
	}
	if err := s.writeAtomic(stampFile, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, overlayStamp(rpms, dir))
		return err
	}); err != nil {
		return fail(err)
	}
	return fn(dir)
}

// createrepo writes dir's metadata with timestamps set to revision, so
// that the same packages make the same repomd.xml.
func createrepo(ctx context.Context, dir, revision string, args ...string) error {
	var stderr bytes.Buffer
	args = append(args, "--unique-md-filenames", "--set-timestamp-to-revision", "--revision", revision, dir)
	cmd := exec.CommandContext(ctx, "createrepo_c", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("createrepo_c: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// overlayStamp names the state an overlay's metadata was generated from:
// each RPM's name, size and modification time, and the repomd.xml it got.
// Anything that changes either (an added RPM, a file replaced by hand, a
// removed or rewritten repodata) changes the stamp.
func overlayStamp(rpms []OverlayRPM, dir string) string {
	var b strings.Builder
	for _, r := range rpms {
		fmt.Fprintf(&b, "%s\t%d\t%d\n", filepath.Base(r.File), r.Size, r.ModTime.UnixNano())
	}
	fi, err := os.Stat(filepath.Join(dir, "repodata", "repomd.xml"))
	if err != nil {
		return "" // no metadata: never matches a written stamp
	}
	fmt.Fprintf(&b, "repomd.xml\t%d\t%d\n", fi.Size(), fi.ModTime().UnixNano())
	return b.String()
}
