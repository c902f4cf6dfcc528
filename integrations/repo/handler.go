package repo

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// Handler serves channels over HTTP as BASEURL/<channel>/<repo>/<path>,
// the layout dnf clients are configured with. A file missing from the
// channel's release is looked up in the releases the channel served before
// (.prev first, then the recent audit log), so a client that fetched
// repomd.xml just before a switch, or a quick switch and rollback, still
// finds every file it names.
func Handler(s *Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !servablePath(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		root, err := os.OpenRoot(s.root)
		if err != nil {
			http.Error(w, "store unavailable", http.StatusInternalServerError)
			return
		}
		defer root.Close()
		// Upstream files are hostile until proven otherwise: one named
		// index.html or evil.svg must never run script in this origin. Each
		// file gets its type from the rpm-md set of extensions, or none,
		// and browsers may not guess another.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		switch base := path.Base(r.URL.Path); {
		case base == "repomd.xml" || base == "repomd.xml.asc" || base == "repomd.xml.key" || base == ".treeinfo":
			// Clients must see a switch at once; the files repomd.xml names
			// have unique names and may be cached. A tree's .treeinfo is
			// its index, read first by Anaconda and virt-install.
			w.Header().Set("Cache-Control", "no-cache")
			// After a rollback the current repomd.xml is older than the one
			// a client holds, so a date-based revalidation would wrongly
			// answer 304: it is small, always send it whole.
			r = r.Clone(r.Context())
			for _, h := range []string{"If-Modified-Since", "If-Unmodified-Since", "If-None-Match", "If-Match", "If-Range", "Range"} {
				r.Header.Del(h)
			}
		case !strings.HasSuffix(r.URL.Path, "/") && !namedByContent(r.URL.Path):
			// A tree's images (vmlinuz, install.img) keep their names
			// from release to release: revalidated on every use, never by
			// date, which a rollback turns back. Ranges stay, so that a
			// large image can resume.
			w.Header().Set("Cache-Control", "no-cache")
			r = r.Clone(r.Context())
			r.Header.Del("If-Modified-Since")
			r.Header.Del("If-Unmodified-Since")
		}
		cfs := channelFS{store: root.FS(), history: s.History}
		if serveFile(w, r, cfs) {
			return
		}
		// Directories get a listing; an upstream index.html is no page of
		// ours, so the listing never serves one in its place.
		http.FileServerFS(noIndexFS{cfs}).ServeHTTP(w, r)
	})
}

// serveFile serves the regular file at the request's path, with its
// content type from contentType, and reports whether there was one.
// http.FileServer would instead redirect .../index.html to the directory
// and serve the file there as a page.
func serveFile(w http.ResponseWriter, r *http.Request, cfs channelFS) bool {
	if strings.HasSuffix(r.URL.Path, "/") {
		return false
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	f, err := cfs.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	content, seeks := f.(io.ReadSeeker)
	if err != nil || !st.Mode().IsRegular() || !seeks {
		return false
	}
	w.Header().Set("Content-Type", contentType(name))
	http.ServeContent(w, r, path.Base(name), st.ModTime(), content)
	return true
}

// namedByContent reports whether a file of a channel has a name that
// changes with its content, so that caches may keep it: a package (its
// NEVRA) or the metadata repomd.xml names (its checksum).
func namedByContent(p string) bool {
	return strings.HasSuffix(p, ".rpm") || strings.Contains(p, "/repodata/")
}

// noIndexFS hides every index.html, which http.FileServer would serve as
// a directory's page.
type noIndexFS struct{ fs.FS }

func (n noIndexFS) Open(name string) (fs.File, error) {
	if path.Base(name) == "index.html" {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return n.FS.Open(name)
}

// contentTypes are the types of the files an rpm-md repository holds. XML
// is served as plain text: as application/xml, a hostile upstream's XHTML
// would render, scripts and all. dnf does not look at the type.
var contentTypes = map[string]string{
	".rpm":    "application/x-rpm",
	".xml":    "text/plain; charset=utf-8",
	".gz":     "application/gzip",
	".xz":     "application/x-xz",
	".zst":    "application/zstd",
	".zck":    "application/octet-stream",
	".bz2":    "application/x-bzip2",
	".sqlite": "application/vnd.sqlite3",
	".asc":    "application/pgp-signature",
	".key":    "application/pgp-keys",
}

// contentType is the type a file of the channels is served as.
func contentType(p string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(p))]; ok {
		return t
	}
	return "application/octet-stream"
}

// servablePath accepts /<channel>/[<repo>/[<path>]] with no dot segments:
// such a path is refused rather than cleaned, so no spelling of a URL can
// name anything but a channel's tree.
func servablePath(p string) bool {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if !strings.HasPrefix(p, "/") || CheckChannelName(segs[0]) != nil {
		return false
	}
	if len(segs) > 1 && segs[1] != "" && CheckRepoName(segs[1]) != nil {
		return false
	}
	for i, seg := range segs {
		last := i == len(segs)-1
		if seg == "." || seg == ".." || (seg == "" && !last) || strings.ContainsAny(seg, "\\\x00") {
			return false
		}
	}
	return true
}

// fallbackReleases bounds how many earlier releases of a channel a missing
// file is looked up in. Metadata files have checksum names, so an older
// release can never shadow the current one's file of the same name.
const fallbackReleases = 8

// channelFS maps "<channel>/<path>" to channels/<channel>/<path>, falling
// back to channels/<channel>.prev/<path> and then to the releases named in
// the channel's recent audit log. The store root behind it is an os.Root,
// so no symlink can lead a request out of the store.
type channelFS struct {
	store   fs.FS
	history func(channel string) ([]Switch, error)
}

func (c channelFS) Open(name string) (fs.File, error) {
	channel, rest, _ := strings.Cut(name, "/")
	if !fs.ValidPath(name) || CheckChannelName(channel) != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := c.store.Open(path.Join("channels", name))
	if errors.Is(err, fs.ErrNotExist) && rest != "" {
		if prev, perr := c.store.Open(path.Join("channels", channel+".prev", rest)); perr == nil {
			return prev, nil
		}
		for _, rel := range c.recent(channel) {
			if old, oerr := c.store.Open(path.Join("releases", rel, rest)); oerr == nil {
				return old, nil
			}
		}
	}
	return f, err
}

// recent lists the releases of the channel's last switches, newest first.
func (c channelFS) recent(channel string) []string {
	log, err := c.history(channel)
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i := len(log) - 1; i >= 0 && len(out) < fallbackReleases; i-- {
		for _, rel := range []string{log[i].To, log[i].From} {
			if rel != "" && !seen[rel] && checkReleaseID(rel) == nil {
				seen[rel] = true
				out = append(out, rel)
			}
		}
	}
	return out
}
