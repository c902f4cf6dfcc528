package rpmmd

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// This file reads .treeinfo, the INI file at the root of a distribution
// tree that tells Anaconda, virt-install and PXE tooling where the boot
// images and the variant repositories are. The format is productmd's
// (treeinfo 1.x, as Pungi and Lorax write it). It is read strictly: a tree
// is what nodes boot from, so anything not understood is refused rather
// than guessed at.

// TreeinfoPath is where a tree keeps its .treeinfo.
const TreeinfoPath = ".treeinfo"

// Treeinfo is a parsed .treeinfo.
type Treeinfo struct {
	Version        string // header version, "1.2"
	Release        string // release name and version, "Rocky Linux 9.4"
	Arch           string
	Platforms      []string
	BuildTimestamp int64 // [tree] build_timestamp, whole seconds
	// Images maps each platform to its images: name ("kernel", "initrd",
	// "boot.iso") to path.
	Images map[string]map[string]string
	// Stage2 is Anaconda's stage2 image ("mainimage"), "" if none.
	Stage2 string
	// Checksums maps each checksummed path to its checksum.
	Checksums map[string]Checksum
	// Variants are the variants and addons that name a repository, in
	// UID order.
	Variants []TreeVariant
}

// TreeVariant is one variant (or addon) of a tree.
type TreeVariant struct {
	UID, ID, Name, Type string
	// Repository is the directory, relative to the tree root, holding its
	// repodata/; "." for the root itself.
	Repository string
	Packages   string // directory of its packages, "" if not given
}

// Files are the paths of every image the tree names and every file it
// checksums, sorted and without duplicates.
func (t Treeinfo) Files() []string {
	set := map[string]bool{}
	for _, imgs := range t.Images {
		for _, p := range imgs {
			set[p] = true
		}
	}
	if t.Stage2 != "" {
		set[t.Stage2] = true
	}
	for p := range t.Checksums {
		set[p] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// treeinfoSections are the sections productmd writes besides the
// images-<platform>, variant-<uid> and addon-<uid> ones.
var treeinfoSections = map[string]bool{
	"header": true, "release": true, "base_product": true, "tree": true,
	"stage2": true, "media": true, "checksums": true, "general": true,
}

// ParseTreeinfo reads a .treeinfo of at most lim.RepomdBytes. Errors wrap
// ErrMalformed and name the line or the key at fault.
func ParseTreeinfo(r io.Reader, lim Limits) (Treeinfo, error) {
	lim = lim.withDefaults()
	secs, err := readINI(LimitReader(r, lim.RepomdBytes, TreeinfoPath))
	if err != nil {
		return Treeinfo{}, err
	}
	p := &treeinfoParser{secs: secs}
	t := p.parse()
	if p.err != nil {
		return Treeinfo{}, fmt.Errorf("%w: %s: %w", ErrMalformed, TreeinfoPath, p.err)
	}
	return t, nil
}

// iniSection is one [section] of an INI file.
type iniSection struct {
	line int
	keys map[string]string
}

// readINI reads the INI dialect Python's configparser writes for
// productmd: "[section]" headers, "key = value" lines, and ';' or '#'
// comments. Keys are case sensitive here (productmd's are lower case);
// continuation lines, keys outside a section and duplicates are refused.
func readINI(r io.Reader) (map[string]*iniSection, error) {
	secs := map[string]*iniSection{}
	var cur *iniSection
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for n := 1; sc.Scan(); n++ {
		raw := strings.TrimSuffix(sc.Text(), "\r")
		line := strings.TrimSpace(raw)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s line %d: %s", ErrMalformed, TreeinfoPath, n, fmt.Sprintf(format, args...))
		}
		switch {
		case line == "" || line[0] == ';' || line[0] == '#':
			continue
		case raw[0] == ' ' || raw[0] == '\t':
			return nil, bad("indented line %s: continuation lines are not part of the format", show(line))
		case line[0] == '[':
			name, ok := strings.CutSuffix(line[1:], "]")
			if !ok || name == "" || strings.ContainsAny(name, "[]") {
				return nil, bad("malformed section header %s", show(line))
			}
			if s, dup := secs[name]; dup {
				return nil, bad("section [%s] again (first on line %d)", name, s.line)
			}
			cur = &iniSection{line: n, keys: map[string]string{}}
			secs[name] = cur
		default:
			k, v, ok := strings.Cut(line, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case !ok || k == "":
				return nil, bad("%s is not \"key = value\"", show(line))
			case cur == nil:
				return nil, bad("key %s before any section", show(k))
			}
			if _, dup := cur.keys[k]; dup {
				return nil, bad("key %s twice in its section", show(k))
			}
			cur.keys[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", TreeinfoPath, err)
	}
	return secs, nil
}

// treeinfoParser turns sections into a Treeinfo, keeping the first error.
type treeinfoParser struct {
	secs map[string]*iniSection
	err  error
}

func (p *treeinfoParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// get is a key of a section, which must be there when required.
func (p *treeinfoParser) get(sec, key string, required bool) string {
	s, ok := p.secs[sec]
	if !ok {
		if required {
			p.fail("section [%s] is missing", sec)
		}
		return ""
	}
	v, ok := s.keys[key]
	if required && (!ok || v == "") {
		p.fail("[%s] %s is missing", sec, key)
	}
	return v
}

// path is a path key's value, checked to stay inside the tree; "." is
// accepted where dotOK.
func (p *treeinfoParser) path(where, v string, dotOK bool) string {
	if dotOK && v == "." {
		return v
	}
	if why := checkHref(v); why != "" {
		p.fail("%s: path %s: %s", where, show(v), why)
	}
	return v
}

func (p *treeinfoParser) parse() Treeinfo {
	var t Treeinfo
	for name := range p.secs {
		_, img := strings.CutPrefix(name, "images-")
		_, vari := strings.CutPrefix(name, "variant-")
		_, addon := strings.CutPrefix(name, "addon-")
		if !treeinfoSections[name] && !img && !vari && !addon {
			p.fail("unknown section [%s]", name)
		}
	}
	if typ := p.get("header", "type", false); typ != "" && typ != "productmd.treeinfo" {
		p.fail("[header] type is %s, not productmd.treeinfo", show(typ))
	}
	t.Version = p.get("header", "version", true)
	if major, minor, ok := strings.Cut(t.Version, "."); p.err == nil && (!ok || major != "1" || !isDigits(minor)) {
		p.fail("[header] version %s: only productmd treeinfo 1.x is understood", show(t.Version))
	}
	t.Release = strings.TrimSpace(p.get("release", "name", true) + " " + p.get("release", "version", true))
	t.Arch = p.get("tree", "arch", true)
	t.Platforms = splitList(p.get("tree", "platforms", false))
	if ts := p.get("tree", "build_timestamp", false); ts != "" {
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil || f < 0 || f > 1<<40 {
			p.fail("[tree] build_timestamp %s is not a unix time", show(ts))
		}
		t.BuildTimestamp = int64(f)
	}
	t.Images = map[string]map[string]string{}
	for name, s := range p.secs {
		platform, ok := strings.CutPrefix(name, "images-")
		if !ok {
			continue
		}
		if !slices.Contains(t.Platforms, platform) {
			p.fail("[%s]: platform %s is not among [tree] platforms %s", name, show(platform), show(strings.Join(t.Platforms, ",")))
		}
		t.Images[platform] = map[string]string{}
		for k, v := range s.keys {
			t.Images[platform][k] = p.path(fmt.Sprintf("[%s] %s", name, k), v, false)
		}
	}
	if s, ok := p.secs["stage2"]; ok {
		for k, v := range s.keys {
			if k != "mainimage" && k != "instimage" {
				p.fail("[stage2] unknown key %s", show(k))
			}
			p.path("[stage2] "+k, v, false)
		}
		t.Stage2 = s.keys["mainimage"]
	}
	t.Checksums = p.checksums()
	for _, f := range t.Files() {
		if _, ok := t.Checksums[f]; !ok {
			p.fail("%s is named as an image but has no entry in [checksums]", f)
		}
	}
	t.Variants = p.variants()
	return t
}

// checksums reads [checksums]: "path = sha256:<hex>". Only sha256 is
// accepted; it is what productmd writes, and anything weaker proves
// nothing.
func (p *treeinfoParser) checksums() map[string]Checksum {
	out := map[string]Checksum{}
	s, ok := p.secs["checksums"]
	if !ok {
		return out
	}
	for k, v := range s.keys {
		where := "[checksums] " + k
		k = p.path(where, k, false)
		algo, hex, _ := strings.Cut(v, ":")
		if algo != "sha256" {
			p.fail("%s: checksum %s is not sha256:<hex>", where, show(v))
			continue
		}
		if len(hex) != 64 || strings.Trim(strings.ToLower(hex), "0123456789abcdef") != "" {
			p.fail("%s: %s is not a sha256 in hex", where, show(hex))
			continue
		}
		out[k] = Checksum{Algo: algo, Hex: strings.ToLower(hex)}
	}
	return out
}

// variants reads the variants [tree] variants lists, and their child
// variants and addons, in UID order.
func (p *treeinfoParser) variants() []TreeVariant {
	seen := map[string]bool{}
	var out []TreeVariant
	var walk func(kind, uid string)
	walk = func(kind, uid string) {
		sec := kind + "-" + uid
		if seen[sec] {
			return
		}
		seen[sec] = true
		if _, ok := p.secs[sec]; !ok {
			p.fail("variant %s is listed but has no section [%s]", show(uid), sec)
			return
		}
		v := TreeVariant{
			UID: p.get(sec, "uid", true), ID: p.get(sec, "id", true), Name: p.get(sec, "name", false),
			Type: p.get(sec, "type", false), Packages: p.get(sec, "packages", false),
		}
		if v.UID != uid {
			p.fail("[%s] uid is %s", sec, show(v.UID))
		}
		if repo := p.get(sec, "repository", false); repo != "" {
			v.Repository = p.path(fmt.Sprintf("[%s] repository", sec), repo, true)
			out = append(out, v)
		}
		if v.Packages != "" {
			p.path(fmt.Sprintf("[%s] packages", sec), v.Packages, true)
		}
		for _, child := range splitList(p.get(sec, "variants", false)) {
			walk("variant", child)
		}
		for _, child := range splitList(p.get(sec, "addons", false)) {
			walk("addon", child)
		}
	}
	uids := splitList(p.get("tree", "variants", true))
	for _, uid := range uids {
		walk("variant", uid)
	}
	for name := range p.secs {
		if kind, uid, ok := strings.Cut(name, "-"); ok && (kind == "variant" || kind == "addon") && !seen[name] {
			p.fail("[%s] is not listed by [tree] variants or by a parent variant (%s)", name, show(uid))
		}
	}
	slices.SortFunc(out, func(a, b TreeVariant) int { return strings.Compare(a.UID, b.UID) })
	return out
}

// splitList splits productmd's comma-separated lists.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
