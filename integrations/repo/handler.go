package repo

import (
	"errors"
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
		if base := path.Base(r.URL.Path); base == "repomd.xml" || base == "repomd.xml.asc" {
			// Clients must see a switch at once; the files repomd.xml names
			// have unique names and may be cached.
			w.Header().Set("Cache-Control", "no-cache")
			// After a rollback the current repomd.xml is older than the one
			// a client holds, so a date-based revalidation would wrongly
			// answer 304: it is small, always send it whole.
			r = r.Clone(r.Context())
			for _, h := range []string{"If-Modified-Since", "If-Unmodified-Since", "If-None-Match", "If-Match", "If-Range", "Range"} {
				r.Header.Del(h)
			}
		}
		http.FileServerFS(channelFS{store: root.FS(), history: s.History}).ServeHTTP(w, r)
	})
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
