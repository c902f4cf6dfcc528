package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/tickets"
)

// UserReport is a production user's problem, as `osflow report` files it.
type UserReport struct {
	Title    string
	Text     string
	Reporter string
	Package  string // optional: the package the user suspects
	Node     string // optional: where it happened
}

// maxReportText bounds a report's text: longer belongs in an attachment
// in the tracker.
const maxReportText = 16 << 10

var (
	packageNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+:~^-]{0,199}$`)
	nodeNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)
)

// Check refuses a report that is incomplete or that could forge lines in
// a ticket, naming the field.
func (r UserReport) Check() error {
	for _, f := range []struct{ name, v string }{{"title", r.Title}, {"reporter", r.Reporter}} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("the report's %s is empty", f.name)
		}
		if len(f.v) > 200 {
			return fmt.Errorf("the report's %s is longer than 200 bytes", f.name)
		}
		if i := strings.IndexFunc(f.v, func(c rune) bool { return !unicode.IsPrint(c) }); i >= 0 {
			return fmt.Errorf("the report's %s %q: %U is not printable; one line of printable text, please", f.name, f.v, []rune(f.v[i:])[0])
		}
	}
	if strings.TrimSpace(r.Text) == "" {
		return fmt.Errorf("the report's text is empty: say what happened")
	}
	if len(r.Text) > maxReportText {
		return fmt.Errorf("the report's text is longer than %d bytes: attach the rest to the ticket", maxReportText)
	}
	if r.Package != "" && !packageNameRE.MatchString(r.Package) {
		return fmt.Errorf("package %q is not a package name (letters, digits and . _ + - : ~ ^)", r.Package)
	}
	if r.Node != "" && !nodeNameRE.MatchString(r.Node) {
		return fmt.Errorf("node %q is not a host name", r.Node)
	}
	return nil
}

// Fingerprint names the report: the same report sent twice (a retried
// command) is one ticket.
func (r UserReport) Fingerprint() string {
	h := sha256.Sum256([]byte(strings.Join([]string{r.Reporter, r.Title, r.Text, r.Package, r.Node}, "\x00")))
	return "user-report/" + hex.EncodeToString(h[:8])
}

func (r UserReport) body() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Reported by **%s** from production with `osflow report`.\n\n", r.Reporter)
	if r.Package != "" {
		fmt.Fprintf(&b, "- package: `%s`\n", r.Package)
	}
	if r.Node != "" {
		fmt.Fprintf(&b, "- node: `%s`\n", r.Node)
	}
	b.WriteString("\n" + r.Text + "\n")
	return b.String()
}

// UserTracker is where production users' tickets go, and the labels
// that mark them there: production.userTickets' own tracker, or its label
// on the main tracker.
func UserTracker(cfg *config.Config) (tickets.Tracker, []string, error) {
	u := cfg.Production.UserTickets
	if u == nil {
		return nil, nil, fmt.Errorf("production.userTickets is not configured in %s: production users' reports have nowhere to go "+
			"(set it to {label: production}, {dir: ...} or {github: ...})", cfg.Path)
	}
	own, err := NewUserTracker(cfg)
	if err != nil || own != nil {
		return own, nil, err
	}
	main, err := NewTracker(cfg)
	return main, []string{u.Label}, err
}

// FileUserReport files a production user's report into the users'
// tracker, where the next promotion's risk report and `osflow status`
// read it. Sending the same report again returns its open ticket.
func FileUserReport(ctx context.Context, cfg *config.Config, r UserReport) (tickets.Ticket, error) {
	if err := r.Check(); err != nil {
		return tickets.Ticket{}, fmt.Errorf("%w: %v", tickets.ErrInvalid, err)
	}
	tr, labels, err := UserTracker(cfg)
	if err != nil {
		return tickets.Ticket{}, err
	}
	title := r.Title
	if r.Package != "" {
		title = r.Package + ": " + title
	}
	t, err := tr.Create(ctx, tickets.NewTicket{
		Fingerprint: r.Fingerprint(), Title: title, Body: redactor(cfg)(r.body()), Labels: labels,
	})
	if err != nil {
		return t, fmt.Errorf("file the report %q: %w", r.Title, err)
	}
	return t, nil
}
