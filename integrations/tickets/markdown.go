package tickets

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A ticket file is Markdown with a YAML front-matter block:
//
//	---
//	id: OSF-3
//	fingerprint: repoclosure/baseos
//	state: closed
//	labels: [osflow, testing]
//	created: 2026-05-01T06:00:00Z
//	closed: 2026-05-03T07:00:00Z
//	---
//
//	# repoclosure fails on baseos
//
//	body...
//
//	## Comment 2026-05-02T06:00:00Z
//
//	comment...
//
// Only the front matter is machine state. Everything after it is kept
// byte for byte when the tracker rewrites the file, so a human may edit the
// text freely; the title is read back from the first "# " heading.

const frontMatterFence = "---\n"

// frontMatter is the machine-readable head of a ticket file. Real YAML
// (not ad-hoc "key: value" lines) so that any fingerprint round-trips and
// other tools can read it.
type frontMatter struct {
	ID          string     `yaml:"id"`
	Fingerprint string     `yaml:"fingerprint"`
	State       string     `yaml:"state"`
	Labels      []string   `yaml:"labels,flow"`
	Created     time.Time  `yaml:"created"`
	Closed      *time.Time `yaml:"closed,omitempty"`
}

// ticketDoc is a parsed ticket file: front matter and the text after it.
type ticketDoc struct {
	meta frontMatter
	text string // "\n# Title\n\nbody\n\n## Comment ...", verbatim
}

var errNoFrontMatter = errors.New("no front matter: the file must start with a \"---\" line")

func newTicketDoc(meta frontMatter, title, body string) ticketDoc {
	text := "\n# " + title + "\n"
	if body = strings.TrimSpace(body); body != "" {
		text += "\n" + body + "\n"
	}
	return ticketDoc{meta: meta, text: text}
}

func parseTicketDoc(data []byte) (ticketDoc, error) {
	rest, ok := bytes.CutPrefix(data, []byte(frontMatterFence))
	if !ok {
		return ticketDoc{}, errNoFrontMatter
	}
	head, text, ok := bytes.Cut(rest, []byte("\n"+frontMatterFence))
	if !ok {
		return ticketDoc{}, errors.New("front matter has no closing \"---\" line")
	}
	var d ticketDoc
	dec := yaml.NewDecoder(bytes.NewReader(head))
	dec.KnownFields(true)
	if err := dec.Decode(&d.meta); err != nil {
		return ticketDoc{}, fmt.Errorf("front matter: %w", err)
	}
	if d.meta.State != StateOpen && d.meta.State != StateClosed {
		return ticketDoc{}, fmt.Errorf("front matter: state %q, want %q or %q", d.meta.State, StateOpen, StateClosed)
	}
	d.text = string(text)
	return d, nil
}

func (d ticketDoc) render() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(frontMatterFence)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(d.meta); err != nil {
		return nil, fmt.Errorf("encode front matter of %s: %w", d.meta.ID, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode front matter of %s: %w", d.meta.ID, err)
	}
	b.WriteString(frontMatterFence)
	b.WriteString(d.text)
	return b.Bytes(), nil
}

// title is the first "# " heading after the front matter.
func (d ticketDoc) title() string {
	for line := range strings.Lines(d.text) {
		if t, ok := strings.CutPrefix(line, "# "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// addComment appends a "## Comment <time>" section.
func (d *ticketDoc) addComment(at time.Time, body string) {
	if !strings.HasSuffix(d.text, "\n") {
		d.text += "\n"
	}
	d.text += "\n" + commentHeading + at.UTC().Format(time.RFC3339) + "\n\n" + strings.TrimSpace(body) + "\n"
}

const commentHeading = "## Comment "

// comments returns the comment bodies, oldest first. Only tests need it;
// it lives here next to the writer so the two stay in step.
func (d ticketDoc) comments() []string {
	var out []string
	sections := strings.Split(d.text, "\n"+commentHeading)
	for _, s := range sections[1:] {
		_, body, _ := strings.Cut(s, "\n") // drop the time
		out = append(out, strings.TrimSpace(body))
	}
	return out
}
