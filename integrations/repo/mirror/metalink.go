package mirror

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// A metalink (MirrorManager's, as Fedora, EPEL and Rocky publish) names
// the mirrors of a repo and what its current repodata/repomd.xml is: size,
// hashes, timestamp, and the recent versions a lagging mirror may still
// serve (alternates). Only the current version is accepted: the point of
// a metalink here is to refuse a stale mirror.
//
//	<metalink xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
//	 <files><file name="repomd.xml">
//	  <mm0:timestamp>1700000000</mm0:timestamp><size>4321</size>
//	  <verification><hash type="sha256">…</hash></verification>
//	  <mm0:alternates><mm0:alternate>…</mm0:alternate></mm0:alternates>
//	  <resources><url protocol="https" preference="100">https://m.example/epel/9/x86_64/repodata/repomd.xml</url></resources>
//	 </file></files>
//	</metalink>

// metalinkDoc is the part of a metalink osflow reads (namespaces aside).
type metalinkDoc struct {
	XMLName xml.Name       `xml:"metalink"`
	Files   []metalinkFile `xml:"files>file"`
}

type metalinkFile struct {
	Name string `xml:"name,attr"`
	metalinkVersion
	Alternates []metalinkVersion `xml:"alternates>alternate"`
	URLs       []metalinkURL     `xml:"resources>url"`
}

type metalinkVersion struct {
	Timestamp string         `xml:"timestamp"`
	Size      string         `xml:"size"`
	Hashes    []metalinkHash `xml:"verification>hash"`
}

type metalinkHash struct {
	Type string `xml:"type,attr"`
	Hex  string `xml:",chardata"`
}

type metalinkURL struct {
	Preference string `xml:"preference,attr"`
	URL        string `xml:",chardata"`
}

// repomdVersion is one version of repomd.xml a metalink describes.
type repomdVersion struct {
	Timestamp int64             // 0: not given
	Size      int64             // -1: not given
	Hashes    map[string]string // "sha256" and "sha512" only
}

// metalink is a parsed metalink: the current repomd.xml, its alternates,
// and the mirrors' base URLs, most preferred first.
type metalink struct {
	URL        string // where it came from, for messages
	Current    repomdVersion
	Alternates []repomdVersion
	Mirrors    []string
	Skipped    []string // listed URLs not used, and why
}

// strongHashes are the hashes a repomd.xml is checked with; a metalink's
// md5 and sha1 are ignored.
var strongHashes = []string{"sha256", "sha512"}

// parseMetalink reads a metalink for repodata/repomd.xml. Mirrors that are
// not http(s), carry user info or do not end in repodata/repomd.xml are
// skipped (and listed in Skipped); a metalink with no strong hash, or no
// mirror left, is malformed.
func parseMetalink(where string, data []byte) (*metalink, error) {
	var doc metalinkDoc
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = nil // UTF-8 only
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: not a metalink: %w", rpmmd.ErrMalformed, err)
	}
	i := slices.IndexFunc(doc.Files, func(f metalinkFile) bool { return f.Name == "repomd.xml" })
	if i < 0 {
		return nil, fmt.Errorf("%w: the metalink describes no repomd.xml", rpmmd.ErrMalformed)
	}
	file := doc.Files[i]
	ml := &metalink{URL: where}
	var err error
	if ml.Current, err = file.version(); err != nil {
		return nil, err
	}
	if len(ml.Current.Hashes) == 0 {
		return nil, fmt.Errorf("%w: the metalink gives no sha256 or sha512 of repomd.xml, nothing to verify it with", rpmmd.ErrMalformed)
	}
	for _, a := range file.Alternates {
		if v, err := a.version(); err == nil {
			ml.Alternates = append(ml.Alternates, v)
		}
	}
	type ranked struct {
		pref int
		base string
	}
	var mirrors []ranked
	for _, u := range file.URLs {
		raw := strings.TrimSpace(u.URL)
		base, ok := strings.CutSuffix(raw, repomdPath)
		if !ok {
			ml.Skipped = append(ml.Skipped, redactURL(raw)+": not a URL of "+repomdPath)
			continue
		}
		if why := badMirrorURL(base); why != "" {
			ml.Skipped = append(ml.Skipped, redactURL(raw)+": "+why)
			continue
		}
		pref, _ := strconv.Atoi(u.Preference)
		mirrors = append(mirrors, ranked{pref, base})
	}
	slices.SortStableFunc(mirrors, func(a, b ranked) int { return b.pref - a.pref })
	for _, m := range mirrors {
		ml.Mirrors = appendMirror(ml.Mirrors, m.base)
	}
	if len(ml.Mirrors) == 0 {
		return nil, fmt.Errorf("%w: the metalink lists no http or https mirror of %s", rpmmd.ErrMalformed, repomdPath)
	}
	return ml, nil
}

// version reads one version of repomd.xml from a metalink.
func (v metalinkVersion) version() (repomdVersion, error) {
	out := repomdVersion{Size: -1, Hashes: map[string]string{}}
	if s := strings.TrimSpace(v.Timestamp); s != "" {
		ts, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ts < 0 {
			return out, fmt.Errorf("%w: metalink timestamp %q is not a number of seconds", rpmmd.ErrMalformed, s)
		}
		out.Timestamp = ts
	}
	if s := strings.TrimSpace(v.Size); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return out, fmt.Errorf("%w: metalink size %q is not a number of bytes", rpmmd.ErrMalformed, s)
		}
		out.Size = n
	}
	for _, h := range v.Hashes {
		algo, hexs := strings.ToLower(h.Type), strings.ToLower(strings.TrimSpace(h.Hex))
		if !slices.Contains(strongHashes, algo) {
			continue
		}
		if b, err := hex.DecodeString(hexs); err != nil || len(b) != map[string]int{"sha256": 32, "sha512": 64}[algo] {
			return out, fmt.Errorf("%w: metalink %s %q is not a %s hash", rpmmd.ErrMalformed, algo, hexs, algo)
		}
		out.Hashes[algo] = hexs
	}
	return out, nil
}

// matches reports whether raw is this version of repomd.xml: its size,
// when given, and every strong hash given.
func (v repomdVersion) matches(raw []byte) bool {
	if len(v.Hashes) == 0 || v.Size >= 0 && int64(len(raw)) != v.Size {
		return false
	}
	for algo, want := range v.Hashes {
		if hashHex(algo, raw) != want {
			return false
		}
	}
	return true
}

func hashHex(algo string, data []byte) string {
	switch algo {
	case "sha256":
		s := sha256.Sum256(data)
		return hex.EncodeToString(s[:])
	case "sha512":
		s := sha512.Sum512(data)
		return hex.EncodeToString(s[:])
	}
	return ""
}

// check refuses an index fetched from a mirror (at where) unless it is the
// repomd.xml the metalink describes now; a mirror serving an older one is
// named stale, with both dates.
func (ml *metalink) check(ix index, where string) error {
	if ml.Current.matches(ix.Raw) {
		return nil
	}
	for _, a := range ml.Alternates {
		if a.matches(ix.Raw) {
			return badContentf(where, "stale mirror: it serves the older repomd.xml of %s, the metalink %s says the current one is of %s",
				showTimeOr(a.Timestamp), ml.URL, showTimeOr(ml.Current.Timestamp))
		}
	}
	if ts := ix.newest(); ts > 0 && ml.Current.Timestamp > 0 && ts < ml.Current.Timestamp {
		return badContentf(where, "stale mirror: its repomd.xml's newest data is from %s, older than the metalink %s says (%s)",
			showTime(ts), ml.URL, showTime(ml.Current.Timestamp))
	}
	algo := "sha256"
	if _, ok := ml.Current.Hashes[algo]; !ok {
		algo = "sha512"
	}
	return badContentf(where, "repomd.xml does not match the metalink %s: %d bytes, %s %s; the metalink says %d bytes, %s %s",
		ml.URL, len(ix.Raw), algo, hashHex(algo, ix.Raw), ml.Current.Size, algo, ml.Current.Hashes[algo])
}

func showTimeOr(ts int64) string {
	if ts == 0 {
		return "unknown date"
	}
	return showTime(ts)
}
