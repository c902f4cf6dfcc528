package starter

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/tickets"
)

// UsersView is production users' open reports, as `osflow status` shows
// them: what the next promotion's risk report will list.
type UsersView struct {
	Open []tickets.Ticket `json:"open"`
	// Unreadable names ticket files skipped because they do not parse.
	Unreadable []string `json:"unreadable,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// usersTimeout bounds the tracker's answer: a slow GitHub must not hold
// the rest of the status.
const usersTimeout = 10 * time.Second

// usersView reads production users' open tickets; nil when
// production.userTickets is not configured.
func usersView(ctx context.Context, cfg *config.Config) *UsersView {
	if cfg.Production.UserTickets == nil {
		return nil
	}
	v := &UsersView{}
	tr, labels, err := activities.UserTracker(cfg)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, usersTimeout)
		defer cancel()
		v.Open, v.Unreadable, err = tickets.ListOpenReadable(ctx, tr, labels...)
	}
	if err != nil {
		v.Error = err.Error()
	}
	return v
}

func printUsers(w io.Writer, v *UsersView) {
	if v == nil {
		return
	}
	fmt.Fprintf(w, "\nPRODUCTION USERS' REPORTS (%d open; osflow report TITLE TEXT adds one)\n", len(v.Open))
	for _, t := range v.Open {
		fmt.Fprintf(w, "  %s %s (%s) %s\n", t.ID, t.Title, t.Created.Local().Format("2006-01-02 15:04"), t.URL)
	}
	for _, u := range v.Unreadable {
		fmt.Fprintf(w, "  skipped, does not parse: %s\n", u)
	}
	if v.Error != "" {
		fmt.Fprintf(w, "  could not read them: %s\n", v.Error)
	}
}
