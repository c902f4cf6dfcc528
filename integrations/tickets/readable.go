package tickets

import "context"

// ListOpenReadable is ListOpen for readers that must not be blocked by
// one bad ticket (the candidate, the production users' input): a ticket
// file that does not parse is skipped and returned in unreadable, each
// error naming its file. Writers keep ListOpen and FindOpen, which refuse
// such a file, since skipping it could file a duplicate of its ticket.
func ListOpenReadable(ctx context.Context, tr Tracker, labels ...string) (open []Ticket, unreadable []string, err error) {
	r, ok := tr.(interface {
		listReadable(ctx context.Context, labels []string) ([]Ticket, []error, error)
	})
	if !ok {
		open, err = tr.ListOpen(ctx, labels...)
		return open, nil, err
	}
	open, bad, err := r.listReadable(ctx, labels)
	for _, e := range bad {
		unreadable = append(unreadable, e.Error())
	}
	return open, unreadable, err
}
