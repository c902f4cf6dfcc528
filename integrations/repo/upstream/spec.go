// Package upstream builds small, real rpm-md repositories with rpmbuild,
// createrepo_c and gpg: the local upstream that osflow dev mirrors, and the
// upstreams that tests sync from.
package upstream

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Spec describes one tiny noarch package.
type Spec struct {
	Name     string
	Version  string   // default "1.0"
	Release  string   // default "1"
	Epoch    int      // 0: no Epoch tag
	Requires []string // rpm dependency expressions, such as "hpc-base-tools >= 1.0"
	Summary  string   // default "<name> test package"
	// Files maps an absolute path to the file's content; default one file
	// /usr/share/<name>/<name>.txt. Paths are plain: no spaces, quotes or %.
	Files map[string]string
}

// Text returns the spec file: BuildArch noarch, AutoReqProv no, License MIT,
// an %install that writes the files and a %files list, with no scriptlets.
// File contents are embedded base64-encoded, so no character in them can
// reach the shell or rpm's macro expansion.
func (s Spec) Text() string {
	version := cmp.Or(s.Version, "1.0")
	release := cmp.Or(s.Release, "1")
	summary := cmp.Or(s.Summary, s.Name+" test package")
	files := s.Files
	if len(files) == 0 {
		p := fmt.Sprintf("/usr/share/%s/%s.txt", s.Name, s.Name)
		files = map[string]string{p: fmt.Sprintf("%s %s-%s\n", s.Name, version, release)}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	var b strings.Builder
	tag := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k+":", v) }
	tag("Name", s.Name)
	if s.Epoch > 0 {
		tag("Epoch", strconv.Itoa(s.Epoch))
	}
	tag("Version", version)
	tag("Release", release)
	tag("Summary", summary)
	tag("License", "MIT")
	tag("BuildArch", "noarch")
	tag("AutoReqProv", "no")
	for _, r := range s.Requires {
		tag("Requires", r)
	}
	fmt.Fprintf(&b, "\n%%description\n%s.\n\n%%install\n", summary)
	for _, p := range paths {
		abs := path.Join("/", p)
		fmt.Fprintf(&b, "mkdir -p %%{buildroot}%s\n", path.Dir(abs))
		fmt.Fprintf(&b, "echo %s | base64 -d > %%{buildroot}%s\n", base64.StdEncoding.EncodeToString([]byte(files[p])), abs)
	}
	b.WriteString("\n%files\n")
	for _, p := range paths {
		b.WriteString(path.Join("/", p) + "\n")
	}
	return b.String()
}
