package starter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/workflows"
)

// AuditEntry is one switch of a channel with the evidence that ties it to
// a release testing served and that passed the gate.
type AuditEntry struct {
	Switch repo.Switch `json:"switch"`
	// Promotion is the promotion that made the switch, if one did.
	Promotion *repo.PromotionRecord `json:"promotion,omitempty"`
	// Outcome is the promotion's outcome: done, rolled-back, or "" while
	// it runs.
	Outcome string `json:"outcome,omitempty"`
	// ServedByTesting says whether testing's log shows the release.
	ServedByTesting bool `json:"servedByTesting"`
	// Base is the release this one was derived from by carrying
	// bypasses; the release itself when it was not.
	Base string `json:"base"`
	// Gate and Rounds come from the release's candidate.
	Gate   []string `json:"gate,omitempty"`
	Rounds int      `json:"rounds,omitempty"`
	// Tested is the verdict: the release is a candidate that testing
	// served and whose gate passed.
	Tested bool `json:"tested"`
	// Verdict says it in words.
	Verdict string `json:"verdict"`
}

// Audit lists every switch of channel, oldest first, and checks each
// against the provenance the store keeps: the promotion that made it and
// its approver and window, the candidate with the gate it passed, and
// testing's log.
func Audit(st *repo.Store, cfg *config.Config, channel string) ([]AuditEntry, error) {
	log, err := st.History(channel)
	if err != nil {
		return nil, err
	}
	testing, err := st.History(cfg.Channels.Testing)
	if err != nil {
		return nil, err
	}
	served := func(release string) bool {
		return slices.ContainsFunc(testing, func(s repo.Switch) bool { return s.To == release && s.Moved() })
	}
	var out []AuditEntry
	for _, sw := range log {
		if !sw.Moved() {
			continue
		}
		e := AuditEntry{Switch: sw, ServedByTesting: served(sw.To)}
		recs, err := st.Promotions(sw.To)
		if err != nil {
			return nil, err
		}
		for i, r := range recs {
			if r.Key == sw.Key && r.Outcome == "" {
				e.Promotion = &recs[i]
			}
			if r.Key == sw.Key && r.Outcome != "" {
				e.Outcome = r.Outcome
			}
		}
		// A release the store derived by carrying bypasses stands on the
		// release it was derived from: that one passed (or not) the gate.
		base, err := st.ReleaseBase(sw.To)
		if err != nil {
			return nil, err
		}
		e.Base = base
		var c activities.Candidate
		switch err := st.Candidate(base, &c); {
		case err == nil:
			e.Gate, e.Rounds = c.Gate, c.Rounds
		case !errors.Is(err, repo.ErrNotFound):
			return nil, err
		}
		gatePassed := len(e.Gate) > 0 && !slices.ContainsFunc(e.Gate, func(r string) bool { return !strings.HasPrefix(r, "ok:") })
		e.Tested = (e.ServedByTesting || served(base)) && gatePassed
		switch {
		case strings.Contains(sw.Key, workflows.BypassPrefix) || strings.Contains(sw.Reason, "bypass "+workflows.BypassPrefix):
			e.Verdict = fmt.Sprintf("emergency bypass by %s on top of %s: %s", sw.Actor, base, sw.Reason)
			if !e.Tested {
				e.Verdict += " (the base release has no passed gate on record)"
			}
		case e.Promotion != nil && e.Tested:
			e.Verdict = fmt.Sprintf("promotion %s approved by %s: a release testing served, gate passed after %d rounds", e.Promotion.Promotion, e.Promotion.Approver, e.Rounds)
		case e.Promotion != nil:
			e.Verdict = fmt.Sprintf("promotion %s approved by %s, but the release has no passed gate on record", e.Promotion.Promotion, e.Promotion.Approver)
		case strings.Contains(sw.Key, "/rollback-"):
			e.Verdict = "rollback after a failed promotion, by " + sw.Actor
		default:
			e.Verdict = "NOT a promotion: a manual switch or rollback by " + sw.Actor + "; not tied to a passed gate"
		}
		out = append(out, e)
	}
	return out, nil
}

func (a *app) auditCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "audit CHANNEL",
		Short: "Prove what a channel served: each switch with its promotion, approver, window and gate",
		Long: `Lists every switch of CHANNEL (production, say) with the promotion that made it,
its approver and window, the test rounds and gate result that passed the
release, and whether testing served it. A switch that cannot be tied to a
passed gate (a manual switch or rollback) is shown as such. Reads the store.
Exit status 1 when the channel serves a release that is not tied to a
passed gate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withStore(func(cfg *config.Config, st *repo.Store) error {
				if err := repo.CheckChannelName(args[0]); err != nil {
					return UsageError{err}
				}
				entries, err := Audit(st, cfg, args[0])
				if err != nil {
					return err
				}
				if a.jsonOut {
					if err := printJSON(a.stdout, entries); err != nil {
						return err
					}
				} else {
					a.printAudit(args[0], entries)
				}
				if n := len(entries); n > 0 && !entries[n-1].Tested {
					return fmt.Errorf("%s serves %s, which is not tied to a passed gate", args[0], entries[n-1].Switch.To)
				}
				return nil
			})
		},
	}
}

func (a *app) printAudit(channel string, entries []AuditEntry) {
	w := a.stdout
	if len(entries) == 0 {
		fmt.Fprintf(w, "%s has never been switched\n", channel)
		return
	}
	for _, e := range entries {
		mark := "ok  "
		if !e.Tested {
			mark = "WARN"
		}
		fmt.Fprintf(w, "%s %s  %s -> %s\n     %s\n", mark, e.Switch.Time.Local().Format(time.DateTime), orNone(e.Switch.From), e.Switch.To, e.Verdict)
		if p := e.Promotion; p != nil {
			fmt.Fprintf(w, "     window %s to %s; outcome %s\n", p.WindowStart.Local().Format(time.DateTime), p.WindowEnd.Local().Format(time.DateTime), orNone(e.Outcome))
		}
		for _, g := range e.Gate {
			fmt.Fprintf(w, "     gate %s\n", g)
		}
		if !e.ServedByTesting {
			fmt.Fprintf(w, "     testing never served %s\n", e.Switch.To)
		}
	}
}
