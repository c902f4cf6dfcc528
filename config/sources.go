package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"time"
)

// This file holds the vendor sources an overlay repo watches
// (repos[].sources, repos[].watch, repos[].watchTimeZone): downloads that
// a Temporal Schedule checks, verifies and adds to the overlay.

// Source is one vendor download an overlay watches.
type Source struct {
	// URL is where the vendor publishes, over http or https: one RPM file
	// (kind rpm), a directory listing of RPMs (listing) or an rpm-md
	// repository (rpmmd). Required.
	URL string `yaml:"url"`
	// Kind is rpm, listing or rpmmd; default rpm for a URL whose path ends
	// in .rpm. A listing or rpmmd URL is a directory and ends with "/".
	Kind string `yaml:"kind"`
	// Include lists shell patterns ("vendor-app-*.rpm", "openssl*") of the
	// files of a listing (file names) or the packages of an rpm-md repo
	// (package names) to watch. Required for those kinds, not for rpm.
	Include []string `yaml:"include"`
	// ChecksumURL is a SHA256SUMS-style file ("hex  name" lines) on the
	// same scheme, host and port as URL, that lists every file taken.
	ChecksumURL string `yaml:"checksumURL"`
	// GPGKey is an OpenPGP public key file: every RPM taken must carry a
	// valid signature by it (see Signature).
	GPGKey string `yaml:"gpgKey"`
	// Signature says where the signature by GPGKey is: "rpm" (the
	// default: the RPM's own header signature, checked with rpmkeys
	// --checksig) or "asc" (a detached <file>.asc next to the file).
	Signature string `yaml:"signature"`
	// Bypass "auto" pushes a new version to testing and production at
	// once, by an emergency bypass (for security feeds); without it a new
	// version is only added to the overlay and waits for the next
	// DailySync and the normal cycle.
	Bypass string `yaml:"bypass"`
}

// Kinds of source, signature places and the bypass mode of a Source.
const (
	SourceRPM     = "rpm"
	SourceListing = "listing"
	SourceRPMMD   = "rpmmd"

	SignatureRPM = "rpm"
	SignatureASC = "asc"

	BypassAuto = "auto"
)

// DefaultWatch is when sources are checked unless repos[].watch says
// otherwise: every 30 minutes.
var DefaultWatch = []string{"*/30 * * * *"}

// AutoBypass reports whether a new version from s starts a bypass.
func (s Source) AutoBypass() bool { return s.Bypass == BypassAuto }

// Watches reports whether the repo has vendor sources to check.
func (r Repo) Watches() bool { return r.Overlay && len(r.Sources) > 0 }

// Source returns the source of r whose URL is url.
func (r Repo) Source(url string) (Source, bool) {
	for _, s := range r.Sources {
		if s.URL == url {
			return s, true
		}
	}
	return Source{}, false
}

func (d *decoder) sourcesDefaults(c *Config) {
	for i := range c.Repos {
		r := &c.Repos[i]
		if len(r.Sources) == 0 {
			continue
		}
		if len(r.Watch) == 0 {
			r.Watch = append([]string(nil), DefaultWatch...)
		}
		if r.WatchTimeZone == "" {
			r.WatchTimeZone = c.Schedule.TimeZone
		}
		for j := range r.Sources {
			s := &r.Sources[j]
			if s.Kind == "" && strings.HasSuffix(strings.ToLower(urlPath(s.URL)), ".rpm") {
				s.Kind = SourceRPM
			}
			if s.Signature == "" && s.GPGKey != "" {
				s.Signature = SignatureRPM
			}
		}
	}
}

// urlPath is the path of a URL that may not parse ("" then): the checks
// report the bad URL.
func urlPath(raw string) string {
	p, _, _ := strings.Cut(raw, "?")
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i:]
	}
	return ""
}

func (d *decoder) sourcesResolve(c *Config, abs func(p *string, path string)) {
	for i := range c.Repos {
		for j := range c.Repos[i].Sources {
			abs(&c.Repos[i].Sources[j].GPGKey, fmt.Sprintf("repos[%d].sources[%d].gpgKey", i, j))
		}
	}
}

func (d *decoder) checkSources(c *Config) {
	for i := range c.Repos {
		r := &c.Repos[i]
		p := fmt.Sprintf("repos[%d]", i)
		if len(r.Sources) == 0 {
			if len(r.Watch) > 0 {
				d.errorf(p+".watch", "only a repo with sources is watched: there is nothing to check")
			}
			if r.WatchTimeZone != "" {
				d.errorf(p+".watchTimeZone", "only a repo with sources is watched: there is nothing to check")
			}
			continue
		}
		if !r.Overlay {
			d.errorf(p+".sources", "only an overlay watches vendor sources: a mirror's packages come from its url")
		}
		for j, expr := range r.Watch {
			if err := checkCron(expr); err != nil {
				d.errorf(fmt.Sprintf("%s.watch[%d]", p, j), "%v", err)
			}
		}
		if _, err := time.LoadLocation(r.WatchTimeZone); err != nil || r.WatchTimeZone == "Local" {
			d.errorf(p+".watchTimeZone", "unknown time zone %q (want an IANA name such as Europe/Berlin, or UTC)", r.WatchTimeZone)
		}
		seen := map[string]string{}
		for j := range r.Sources {
			sp := fmt.Sprintf("%s.sources[%d]", p, j)
			d.checkSource(sp, r, &r.Sources[j])
			if first, dup := seen[r.Sources[j].URL]; dup && r.Sources[j].URL != "" {
				d.errorf(sp+".url", "%q is also %s: watch a source once", r.Sources[j].URL, first)
			}
			seen[r.Sources[j].URL] = sp
		}
	}
}

func (d *decoder) checkSource(p string, r *Repo, s *Source) {
	switch s.Kind {
	case SourceRPM, SourceListing, SourceRPMMD:
	case "":
		d.errorf(p+".kind", "required for a URL that is not an .rpm file: listing (a directory listing of RPMs) or rpmmd (a directory holding repodata/)")
	default:
		d.errorf(p+".kind", "%q is not one of rpm, listing, rpmmd", s.Kind)
	}
	if s.URL == "" {
		d.errorf(p+".url", "required: the vendor's RPM, directory listing or rpm-md repo, such as https://vendor.example.com/el9/")
	} else if s.Kind == SourceRPM {
		if u, ok := d.fileURL(p+".url", s.URL); ok && (!strings.HasSuffix(strings.ToLower(u.Path), ".rpm") || path.Base(u.Path) == ".rpm") {
			d.errorf(p+".url", "%q: a source of kind rpm is the URL of one .rpm file", s.URL)
		}
	} else {
		d.normURL(p+".url", &s.URL, "http", "https")
	}

	switch {
	case s.Kind == SourceRPM && len(s.Include) > 0:
		d.errorf(p+".include", "a source of kind rpm is one file: include is for listing and rpmmd")
	case s.Kind != SourceRPM && s.Kind != "" && len(s.Include) == 0:
		d.errorf(p+".include", "required for kind %s: the %s to take, such as %s", s.Kind, includeWhat(s.Kind), includeExample(s.Kind))
	}
	for k, pat := range s.Include {
		if _, err := path.Match(pat, ""); err != nil || strings.TrimSpace(pat) != pat || pat == "" || strings.Contains(pat, "/") {
			d.errorf(fmt.Sprintf("%s.include[%d]", p, k), "%q is not a pattern of %s (shell pattern, no /)", pat, includeWhat(s.Kind))
		}
	}

	if s.ChecksumURL == "" && s.GPGKey == "" {
		d.errorf(p, "set checksumURL, gpgKey or both: a download is kept only once it is verified")
	}
	if s.ChecksumURL != "" {
		sum, okSum := d.fileURL(p+".checksumURL", s.ChecksumURL)
		src, errSrc := url.Parse(s.URL)
		if okSum && errSrc == nil && src.Host != "" && !SameOrigin(sum, src) {
			d.errorf(p+".checksumURL", "%q is not on %s://%s, the source's scheme, host and port: osflow fetches a source's files from its own host only",
				s.ChecksumURL, src.Scheme, src.Host)
		}
	}
	if s.GPGKey != "" {
		d.readable(p+".gpgKey", s.GPGKey)
	}
	switch {
	case s.Signature != "" && s.GPGKey == "":
		d.errorf(p+".signature", "needs gpgKey: there is no key to verify the signature with")
	case s.Signature != "":
		d.oneOf(p+".signature", s.Signature, SignatureRPM, SignatureASC)
	}
	switch {
	case s.Bypass == "":
	case s.Bypass != BypassAuto:
		d.errorf(p+".bypass", "%q is not auto (leave it out to wait for the daily sync)", s.Bypass)
	case r.Bypass == nil:
		d.errorf(p+".bypass", "auto needs the overlay's bypass policy (repos[].bypass.allow): a bypass of %s is refused without one", r.Name)
	}
}

// fileURL checks raw as the http(s) URL of a file, without user info.
func (d *decoder) fileURL(path, raw string) (*url.URL, bool) {
	u, ok := d.parseURL(path, raw, "http", "https")
	switch {
	case !ok:
		return nil, false
	case u.User != nil:
		d.errorf(path, "%q: no user info in this URL (give credentials another way)", raw)
		return nil, false
	case strings.HasSuffix(u.Path, "/") || u.Path == "":
		d.errorf(path, "%q names a directory, want a file", raw)
		return nil, false
	}
	return u, true
}

func includeWhat(kind string) string {
	if kind == SourceRPMMD {
		return "package names"
	}
	return "file names"
}

func includeExample(kind string) string {
	if kind == SourceRPMMD {
		return "[openssl, openssl-libs]"
	}
	return `["vendor-app-*.rpm"]`
}

// SameOrigin reports whether a and b have the same scheme, host and port
// (a scheme's default port made explicit), as a source's files must.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}
