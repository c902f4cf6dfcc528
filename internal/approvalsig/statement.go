// Package approvalsig proves who decided an outage: a statement of the
// decision, signed with the approver's SSH key in the format of
// `ssh-keygen -Y sign -n osflow-approval`, and verified in pure Go, so
// that a workflow's Update validator can check it deterministically.
package approvalsig

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Namespace is the SSHSIG namespace of an osflow decision: a signature
// made for git commits or files cannot pass for an approval.
const Namespace = "osflow-approval"

// Decisions a statement may state.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
	DecisionProceed = "proceed"
	DecisionCancel  = "cancel"
)

// Headers are the first line of a statement, naming its format: a
// decision on a promotion (a release and its window) or on a bypass (an
// overlay and the packages it puts on the channels).
const (
	header       = "osflow decision v1"
	bypassHeader = "osflow bypass decision v1"
)

// Statement is what an approver signs: the decision, what it applies to,
// and a nonce that makes each signature usable once. A promotion's names
// Release and its window; a bypass's names Overlay and Packages instead.
type Statement struct {
	Workflow    string
	Release     string
	Overlay     string
	Packages    []string // NEVRAs, in the bypass's order
	Decision    string
	WindowStart time.Time
	WindowEnd   time.Time
	Comment     string
	Nonce       string
}

// Bypass says whether the statement is on a bypass.
func (s Statement) Bypass() bool { return s.Overlay != "" }

func (s Statement) header() string {
	if s.Bypass() {
		return bypassHeader
	}
	return header
}

// fields are the statement's lines in order, as label and value.
func (s Statement) fields() [][2]string {
	if s.Bypass() {
		return [][2]string{
			{"workflow", s.Workflow},
			{"overlay", s.Overlay},
			{"packages", strings.Join(s.Packages, " ")},
			{"decision", s.Decision},
			{"comment", s.Comment},
			{"nonce", s.Nonce},
		}
	}
	return [][2]string{
		{"workflow", s.Workflow},
		{"release", s.Release},
		{"decision", s.Decision},
		{"window-start", timeText(s.WindowStart)},
		{"window-end", timeText(s.WindowEnd)},
		{"comment", s.Comment},
		{"nonce", s.Nonce},
	}
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// Text is the canonical form that is signed: one "label: value" line per
// field, times in RFC 3339 UTC ("-" when there is none), ending in a
// newline.
func (s Statement) Text() string {
	var b strings.Builder
	b.WriteString(s.header() + "\n")
	for _, f := range s.fields() {
		b.WriteString(f[0] + ": " + f[1] + "\n")
	}
	return b.String()
}

// Parse reads a statement in its canonical form.
func Parse(text string) (Statement, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	layout := Statement{}
	if lines[0] == bypassHeader {
		layout.Overlay = "-"
	}
	want := layout.fields()
	if len(lines) != len(want)+1 || lines[0] != layout.header() {
		return Statement{}, fmt.Errorf("not an osflow statement: want %q (or %q) and %d lines of \"label: value\"", header, bypassHeader, len(want))
	}
	vals := map[string]string{}
	for i, f := range want {
		v, ok := strings.CutPrefix(lines[i+1], f[0]+": ")
		if !ok {
			return Statement{}, fmt.Errorf("statement line %d: want %q", i+2, f[0]+": ")
		}
		vals[f[0]] = v
	}
	s := Statement{Workflow: vals["workflow"], Decision: vals["decision"], Comment: vals["comment"], Nonce: vals["nonce"]}
	if layout.Bypass() {
		s.Overlay, s.Packages = vals["overlay"], strings.Fields(vals["packages"])
		if s.Overlay == "" {
			return Statement{}, errors.New("statement: the overlay is empty")
		}
	} else {
		s.Release = vals["release"]
		var err error
		if s.WindowStart, err = parseTime("window-start", vals["window-start"]); err != nil {
			return Statement{}, err
		}
		if s.WindowEnd, err = parseTime("window-end", vals["window-end"]); err != nil {
			return Statement{}, err
		}
	}
	if s.Nonce == "" {
		return Statement{}, errors.New("statement: the nonce is empty")
	}
	return s, nil
}

func parseTime(label, v string) (time.Time, error) {
	if v == "-" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("statement %s: %w", label, err)
	}
	return t, nil
}

// Mismatch says how a statement differs from the one expected, naming the
// first differing field; "" when they state the same (the nonce aside).
func Mismatch(got, want Statement) string {
	if got.Bypass() != want.Bypass() {
		return fmt.Sprintf("the statement is %q, this request wants %q", got.header(), want.header())
	}
	g, w := got.fields(), want.fields()
	for i := range g[:len(g)-1] {
		if g[i][1] != w[i][1] {
			return fmt.Sprintf("the statement is for %s %q, this request is for %q", g[i][0], g[i][1], w[i][1])
		}
	}
	return ""
}
