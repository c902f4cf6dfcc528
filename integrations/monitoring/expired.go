package monitoring

import (
	"fmt"
	"slices"
	"strings"
)

// Expired is what Expire did with the silences of a key: which are ended
// and which are still in force. A caller reports these, never the number
// it silenced: a monitoring system may keep a silence it was told to end.
type Expired struct {
	// Ended are the silences of the key that are ended now, as far as the
	// system still shows them (Nagios forgets a deleted downtime).
	Ended []string
	// Remaining are still in force after Expire, each with how to end it
	// by hand.
	Remaining []Remaining
}

// Remaining is a silence Expire could not end.
type Remaining struct {
	ID string
	// EndByHand is the command an operator runs to end it.
	EndByHand string
}

func (e *Expired) add(o Expired) {
	e.Ended = append(e.Ended, o.Ended...)
	e.Remaining = append(e.Remaining, o.Remaining...)
}

// RemainingIDs lists the IDs of the silences still in force.
func (e Expired) RemainingIDs() []string {
	ids := make([]string, len(e.Remaining))
	for i, r := range e.Remaining {
		ids[i] = r.ID
	}
	return ids
}

// Summary says in a line how many of the silences made are ended and
// which remain, with how to end them by hand. made are the IDs Silence
// returned: a retried Expire no longer sees what an earlier attempt ended
// in Nagios, so every silence made that does not remain is ended.
func (e Expired) Summary(made []string) string {
	all := slices.Clone(made)
	for _, id := range append(slices.Clone(e.Ended), e.RemainingIDs()...) {
		if !slices.Contains(all, id) {
			all = append(all, id)
		}
	}
	ended := len(all) - len(e.Remaining)
	if len(all) == 0 {
		return "no silences to end"
	}
	if len(e.Remaining) == 0 {
		return fmt.Sprintf("%d of %d silences ended", ended, len(all))
	}
	verb := "remain"
	if len(e.Remaining) == 1 {
		verb = "remains"
	}
	var left []string
	for _, r := range e.Remaining {
		left = append(left, r.ID+" (end it by hand: "+r.EndByHand+")")
	}
	return fmt.Sprintf("%d of %d silences ended; %d %s: %s", ended, len(all), len(e.Remaining), verb, strings.Join(left, ", "))
}
