package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// Paths of the repo index inside a repo tree.
const (
	repomdPath    = "repodata/repomd.xml"
	signaturePath = repomdPath + ".asc"
	// keyPath is where OBS-built repos (OpenHPC's among them) publish the
	// key that signs repomd.xml and the packages, and where a snapshot
	// keeps the key clients should import: see index.Key.
	keyPath = repo.KeyPath
)

// index is a fetched and verified repomd.xml.
type index struct {
	Raw       []byte // repomd.xml byte for byte
	SHA256    string
	Signature []byte // repomd.xml.asc; nil when not fetched or absent
	// Key is the snapshot's repomd.xml.key: the configured keyring,
	// armored, when there is one (what osflow verified the chain with is
	// what clients import), else upstream's own, byte for byte; nil when
	// neither.
	Key []byte
	// ownKey says Key is the configured keyring's.
	ownKey bool
	Repomd rpmmd.Repomd
}

// Files are the index's own entries of the snapshot tree, with their
// bytes.
func (ix index) Files() ([]repo.File, [][]byte) {
	var files []repo.File
	var data [][]byte
	for _, f := range []struct {
		path string
		data []byte
	}{{repomdPath, ix.Raw}, {signaturePath, ix.Signature}, {keyPath, ix.Key}} {
		if f.data != nil {
			files = append(files, repo.File{Path: f.path, Checksum: sha256Of(f.data), Size: int64(len(f.data))})
			data = append(data, f.data)
		}
	}
	return files, data
}

// snapshotID is the ID of the index's snapshot: from repomd.xml, and the
// configured key when there is one, so that a snapshot made before the
// key was configured (or before snapshots kept it) is not taken for one
// that serves it.
func (ix index) snapshotID() string {
	if !ix.ownKey {
		return repo.SnapshotID(ix.SHA256)
	}
	return repo.SnapshotID(sha256Of([]byte(ix.SHA256 + " " + sha256Of(ix.Key).Hex)).Hex)
}

// armoredKeyring is kr as an armored public key block, the form dnf
// imports from a gpgkey= URL.
func armoredKeyring(kr openpgp.EntityList) ([]byte, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	for _, e := range kr {
		if err := e.Serialize(w); err != nil {
			return nil, fmt.Errorf("serialize the configured key: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// fetchKey sets ix.Key to upstream's repomd.xml.key when no key is
// configured and upstream publishes one. It runs only for a new snapshot:
// an unchanged upstream costs one request, repomd.xml.
func (r *syncRun) fetchKey(ctx context.Context, ix *index) error {
	if ix.Key != nil {
		return nil
	}
	key, err := r.fetchSmall(ctx, keyPath, r.lim.RepomdBytes)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return err
	}
	ix.Key = key
	return nil
}

// fetchIndex fetches repomd.xml and, when the source has a keyring, its
// detached signature, and verifies it. A missing signature is accepted
// unless src.RequireSignature. A snapshot that exists already does not
// skip the check: a key is configured, so every sync proves the chain
// starts signed.
func (r *syncRun) fetchIndex(ctx context.Context) (index, error) {
	raw, err := r.fetchSmall(ctx, repomdPath, r.lim.RepomdBytes)
	if err != nil {
		return index{}, err
	}
	ix := index{Raw: raw, SHA256: sha256Of(raw).Hex}
	if pub := r.src.Keyring; pub != nil || r.src.PublishKey != nil {
		if pub == nil {
			pub = r.src.PublishKey
		}
		if ix.Key, err = armoredKeyring(pub); err != nil {
			return index{}, err
		}
		ix.ownKey = true
	}
	if r.src.Keyring != nil {
		sig, err := r.fetchSmall(ctx, signaturePath, r.lim.RepomdBytes)
		switch {
		case isNotFound(err) && r.src.RequireSignature:
			return index{}, badContentf(r.f.url(signaturePath), "%w: missing, and the repo requires a signature", rpmmd.ErrSignature)
		case isNotFound(err):
			// unsigned upstream, accepted by configuration
		case err != nil:
			return index{}, err
		default:
			if err := rpmmd.VerifySignature(r.src.Keyring, bytes.NewReader(raw), bytes.NewReader(sig)); err != nil {
				return index{}, badContent(r.f.url(repomdPath), err)
			}
			ix.Signature = sig
		}
	}
	if ix.Repomd, err = rpmmd.ParseRepomd(bytes.NewReader(raw), r.lim); err != nil {
		return index{}, badContent(r.f.url(repomdPath), err)
	}
	return ix, nil
}

// fetchSmall reads a whole file of at most max bytes into memory, retrying
// as a download would.
func (r *syncRun) fetchSmall(ctx context.Context, href string, max int64) (data []byte, err error) {
	err = r.retrying(ctx, href, func(ctx context.Context) error {
		data, err = fetchSmall(ctx, r.f, href, max)
		return err
	})
	return data, err
}

// fetchSmall reads a whole file of at most max bytes into memory, within
// the minimum speed's deadline for max bytes.
func fetchSmall(ctx context.Context, f *fetcher, href string, max int64) ([]byte, error) {
	if d := f.speed.deadline(max); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, errDeadline)
		defer cancel()
	}
	body, _, err := f.open(ctx, href)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(rpmmd.LimitReader(body, max, href))
	if err != nil {
		return nil, readError(ctx, f.url(href), err)
	}
	return data, nil
}

// newest is the newest <timestamp> of the index's data, 0 if none has one.
func (ix index) newest() int64 {
	var ts int64
	for _, d := range ix.Repomd.Data {
		ts = max(ts, d.Timestamp)
	}
	return ts
}

// checkFresh refuses an index older than the one last accepted for the
// repo (a replayed or frozen mirror serving old, validly signed metadata
// would move the channels back), or whose newest data is older than
// src.MaxAge, unless src.AllowOlder or the metadata is osflow's own.
func (r *syncRun) checkFresh(ix index) error {
	return r.checkFreshAt(r.f.url(repomdPath), ix.Repomd.Revision, ix.newest())
}

// checkFreshAt is checkFresh of the index at where, with revision rev and
// newest data timestamp newest.
func (r *syncRun) checkFreshAt(where, rev string, newest int64) error {
	if r.src.AllowOlder || r.src.Generated {
		return nil
	}
	if r.src.MaxAge > 0 {
		if newest == 0 {
			return badContentf(where, "no <timestamp> in repomd.xml, so its age cannot be checked against the repo's maxAge of %s", r.src.MaxAge)
		}
		if age := r.m.clock()().Sub(time.Unix(newest, 0)); age > r.src.MaxAge {
			return badContentf(where, "the newest metadata is from %s, %s old, older than the repo's maxAge of %s: the mirror looks frozen; "+
				"if that is expected, run `osflow sync --allow-older %s`", showTime(newest), age.Round(time.Minute), r.src.MaxAge, r.src.Repo)
		}
	}
	last, found, err := r.lastAccepted()
	if err != nil || !found {
		return err
	}
	if why := older(rev, newest, last); why != "" {
		return badContentf(where, "older than the repomd.xml accepted on %s (snapshot %s): %s. The upstream moved backwards (a replayed or "+
			"out-of-date mirror); if that is intended, run `osflow sync --allow-older %s`",
			last.Time.Format(time.RFC3339), last.Snapshot, why, r.src.Repo)
	}
	return nil
}

// lastAccepted is the index last accepted for the repo. A store from
// before the log of accepted indexes has none; its newest snapshot's
// repomd.xml stands in, so that an upgrade does not open a window for a
// replay.
func (r *syncRun) lastAccepted() (repo.Accepted, bool, error) {
	last, err := r.m.Store.LastAccepted(r.src.Repo)
	if err == nil {
		return last, true, nil
	}
	if !errors.Is(err, repo.ErrNotFound) {
		return last, false, err
	}
	snaps, err := r.m.Store.Snapshots(r.src.Repo)
	if errors.Is(err, repo.ErrNotFound) || err == nil && len(snaps) == 0 {
		return last, false, nil
	}
	if err != nil {
		return last, false, err
	}
	newest := snaps[0]
	if t := newest.Tree; t != nil {
		return repo.Accepted{Time: newest.CreatedAt, Snapshot: newest.ID, Timestamp: t.Newest}, true, nil
	}
	raw, err := os.ReadFile(r.m.Store.PoolPath(repo.Checksum{Algo: "sha256", Hex: newest.Repomd}))
	if err != nil {
		return last, false, fmt.Errorf("repomd.xml of snapshot %s: %w", newest.ID, err)
	}
	md, err := rpmmd.ParseRepomd(bytes.NewReader(raw), r.lim)
	if err != nil {
		return last, false, fmt.Errorf("repomd.xml of snapshot %s: %w", newest.ID, err)
	}
	ix := index{Repomd: md}
	return repo.Accepted{Time: newest.CreatedAt, Snapshot: newest.ID, Revision: md.Revision, Timestamp: ix.newest()}, true, nil
}

// older says how an index with revision rev and newest data timestamp ts
// is older than last, "" if it is not. Revisions are compared when both
// are numbers (createrepo_c writes the generation time); timestamps when
// both have one.
func older(rev string, ts int64, last repo.Accepted) string {
	if cmpNumeric(rev, last.Revision) < 0 {
		return fmt.Sprintf("revision %s is older than revision %s", rev, last.Revision)
	}
	if ts > 0 && last.Timestamp > 0 && ts < last.Timestamp {
		return fmt.Sprintf("its newest data is from %s, the accepted one's from %s (revision %s, accepted revision %s)",
			showTime(ts), showTime(last.Timestamp), orNone(rev), orNone(last.Revision))
	}
	return ""
}

// cmpNumeric compares two decimal numbers of any length; 0 unless both
// are numbers.
func cmpNumeric(a, b string) int {
	if !isDigits(a) || !isDigits(b) {
		return 0
	}
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func showTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return strconv.Quote(s)
}

// accept records ix, which snapshot id holds, as the repo's last accepted
// index, unless it is already.
func (r *syncRun) accept(ix index, id string) error {
	return r.acceptAt(ix.Repomd.Revision, ix.newest(), id)
}

// acceptAt is accept of an index with revision rev and newest data
// timestamp newest.
func (r *syncRun) acceptAt(rev string, newest int64, id string) error {
	a := repo.Accepted{Snapshot: id, Revision: rev, Timestamp: newest, Time: r.m.clock()()}
	logged, err := r.m.Store.LastAccepted(r.src.Repo)
	if err == nil && logged.Snapshot == id && logged.Revision == a.Revision && logged.Timestamp == a.Timestamp {
		return nil
	}
	if r.src.AllowOlder {
		last, found, err := r.lastAccepted()
		if err != nil {
			return err
		}
		if why := older(a.Revision, a.Timestamp, last); found && why != "" {
			a.AllowedOlder = true
			a.Note = "accepted by the operator (osflow sync --allow-older): " + why
			r.log.Warn("accepting older upstream metadata", zap.String("snapshot", id), zap.String("why", why))
		}
	}
	return r.m.Store.RecordAccepted(r.src.Repo, a)
}
func sha256Of(data []byte) repo.Checksum {
	sum := sha256.Sum256(data)
	return repo.Checksum{Algo: "sha256", Hex: hex.EncodeToString(sum[:])}
}
