// Package wiki publishes Markdown pages to a git-backed wiki in the layout
// GitHub and Gitea wikis use: one <Page-Name>.md per page at the root of
// the wiki's repository, and Home.md as its front page.
package wiki

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/osflow/osflow/integrations/scm"
)

// DefaultBranch is the branch GitHub and Gitea keep wikis on.
const DefaultBranch = "master"

// The managed part of Home.md: one link per page osflow published, sorted.
// Everything outside the markers is the humans' and is kept as is.
const (
	beginMarker = "<!-- osflow pages -->"
	endMarker   = "<!-- /osflow pages -->"
	homeFile    = "Home.md"
)

// Wiki is one git-backed wiki.
type Wiki struct {
	Repo    *scm.Repo
	Branch  string // DefaultBranch if empty
	BaseURL string // optional, for page URLs: e.g. https://github.com/org/repo/wiki/
}

// Published is what Publish did.
type Published struct {
	Page    string // page name, as in the wiki's URLs
	File    string // Page + ".md"
	Commit  string // the commit holding the page (the branch tip if unchanged)
	URL     string // BaseURL + Page; empty without BaseURL
	Changed bool   // false if the wiki already had this content
}

// maxPageName keeps <name>.md within the 255-byte file name limit of the
// file systems the wiki is cloned to, with room to spare.
const maxPageName = 200

// PageName is the file name (without .md) GitHub's wiki gives a page
// titled title: white space becomes "-" and characters other than
// letters, digits, "-", "_" and "." are dropped. Runs of "-" are collapsed,
// and leading ".", "_" and "-" trimmed: a leading "." would hide the file
// and a leading "_" makes a special page (_Sidebar, _Footer). "" if nothing
// is left.
func PageName(title string) string {
	var b strings.Builder
	for _, c := range title {
		switch {
		case unicode.IsSpace(c):
			c = '-'
		case unicode.IsLetter(c), unicode.IsDigit(c), c == '_', c == '.', c == '-':
		default:
			continue
		}
		if c == '-' && strings.HasSuffix(b.String(), "-") {
			continue
		}
		b.WriteRune(c)
	}
	name := strings.TrimRight(strings.TrimLeft(b.String(), "._-"), "-")
	for len(name) > maxPageName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// Publish writes markdown as the page titled title and links it from
// Home.md, in one commit (message defaults to "Publish <title>"). Home.md
// is created if missing; its managed section is added at the end if
// absent. Publishing content the wiki already has commits nothing.
//
// A title whose page name is taken by another title replaces that page
// and its link: page names, not titles, are what a wiki keys on.
func (w *Wiki) Publish(ctx context.Context, title, markdown, message string) (Published, error) {
	page := PageName(title)
	if page == "" || strings.EqualFold(page, "Home") {
		return Published{}, fmt.Errorf("wiki: title %q: %w: no usable page name", title, scm.ErrInvalid)
	}
	if message == "" {
		message = "Publish " + title
	}
	branch := w.Branch
	if branch == "" {
		branch = DefaultBranch
	}
	file := page + ".md"
	commit, changed, err := w.Repo.Edit(ctx, branch, message, func(read scm.ReadFunc) (map[string][]byte, error) {
		home, err := read(homeFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		home, err = linkPage(home, title, page)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{file: []byte(markdown), homeFile: home}, nil
	})
	if err != nil {
		return Published{}, fmt.Errorf("wiki: publish %q: %w", title, err)
	}
	p := Published{Page: page, File: file, Commit: commit, Changed: changed}
	if w.BaseURL != "" {
		p.URL = strings.TrimSuffix(w.BaseURL, "/") + "/" + url.PathEscape(page)
	}
	return p, nil
}

// link is one entry of the managed section.
type link struct{ title, page string }

// linkPage returns home with page (titled title) linked in its managed
// section, which it adds at the end when home has none.
func linkPage(home []byte, title, page string) ([]byte, error) {
	text := string(home)
	start := strings.Index(text, beginMarker)
	end := strings.Index(text, endMarker)
	var before, section, after string
	switch {
	case start < 0 && end < 0:
		before = text
		if before != "" {
			before = strings.TrimRight(before, "\n") + "\n\n"
		}
		after = "\n"
	case start < 0 || end < start:
		// Guessing where a damaged section ends could delete what people
		// wrote: let them repair it.
		return nil, fmt.Errorf("%s: %q and %q are not a pair: fix the page by hand", homeFile, beginMarker, endMarker)
	default:
		before, section, after = text[:start], text[start+len(beginMarker):end], text[end+len(endMarker):]
	}
	links := parseLinks(section)
	links = slices.DeleteFunc(links, func(l link) bool { return l.page == page })
	links = append(links, link{title: title, page: page})
	slices.SortFunc(links, func(a, b link) int {
		return cmp.Or(strings.Compare(a.title, b.title), strings.Compare(a.page, b.page))
	})
	var b strings.Builder
	b.WriteString(before + beginMarker + "\n")
	for _, l := range links {
		fmt.Fprintf(&b, "- [%s](%s)\n", escapeTitle(l.title), l.page)
	}
	b.WriteString(endMarker + after)
	return []byte(b.String()), nil
}

// parseLinks reads the entries linkPage writes; other lines in the
// section are dropped, as the section is ours.
func parseLinks(section string) []link {
	var links []link
	for line := range strings.SplitSeq(section, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "- [")
		if !ok || !strings.HasSuffix(rest, ")") {
			continue
		}
		i := strings.LastIndex(rest, "](")
		if i < 0 {
			continue
		}
		title, page := unescapeTitle(rest[:i]), rest[i+2:len(rest)-1]
		if page != "" && page == PageName(page) {
			links = append(links, link{title: title, page: page})
		}
	}
	return links
}

// titleEscaper backslash-escapes what Markdown would read as markup in link
// text; a line break would end the list item.
var titleEscaper = strings.NewReplacer(
	`\`, `\\`, "[", `\[`, "]", `\]`, "*", `\*`, "_", `\_`, "`", "\\`", "<", `\<`, ">", `\>`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

func escapeTitle(t string) string { return titleEscaper.Replace(t) }

func unescapeTitle(t string) string {
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] == '\\' && i+1 < len(t) {
			i++
		}
		b.WriteByte(t[i])
	}
	return b.String()
}
