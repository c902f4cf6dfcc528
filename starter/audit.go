package starter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/workflows"
)

// AuditEntry is one switch of a channel, what kind of switch it was, and
// the evidence that backs it or its absence.
type AuditEntry struct {
	Switch repo.Switch `json:"switch"`
	// Kind is one of the Switch* kinds below.
	Kind string `json:"kind"`
	// Warn marks a switch the channel's process does not account for:
	// for production, one not backed by an approved promotion of a tested
	// release or by a recorded bypass; for any channel, a manual switch or
	// rollback, and a release served that no completed switch names.
	Warn bool `json:"warn"`
	// Promotion is the promotion that made the switch, if one did.
	Promotion *repo.PromotionRecord `json:"promotion,omitempty"`
	// Bypass is the finished bypass that made the switch, if one did.
	Bypass *repo.BypassRecord `json:"bypass,omitempty"`
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
	// Tested is the verdict on the release: a candidate that testing
	// served and whose gate passed.
	Tested bool `json:"tested"`
	// Verdict says it in words.
	Verdict string `json:"verdict"`
	// Approval is the promotion's signed approval verified again (audit
	// --verify).
	Approval *ApprovalCheck `json:"approval,omitempty"`
}

// Kinds of switch, as the audit names them.
const (
	SwitchPromotion    = "promotion"
	SwitchBypass       = "bypass"
	SwitchCompensation = "rollback after a failed promotion"
	SwitchRollback     = "manual rollback"
	SwitchDailySync    = "daily sync"
	SwitchManual       = "manual switch"
	// SwitchUnrecorded is a release the channel serves that no completed
	// switch in its log names: a switch interrupted after its rename and
	// not yet recorded by its retry or the channel's next switch or freeze.
	SwitchUnrecorded = "unrecorded"
)

// dailySyncPrefix starts the workflow ID of every DailySync, scheduled
// ("daily-sync-<time>") or manual (workflows.DailySyncManualPrefix).
const dailySyncPrefix = "daily-sync-"

// switchKind tells what a switch was from its operation key, which names
// the workflow (its ID) and the step that made it, and from the kind the
// store recorded.
func switchKind(sw repo.Switch) string {
	wf, _, _ := strings.Cut(sw.Key, "/")
	step := sw.Key[strings.LastIndex(sw.Key, "/")+1:]
	rollback := sw.Kind == repo.KindRollback || strings.HasPrefix(step, workflows.RollbackPrefix)
	switch {
	case strings.HasPrefix(wf, workflows.BypassPrefix) || strings.HasPrefix(sw.Reason, "bypass "+workflows.BypassPrefix):
		return SwitchBypass
	case strings.HasPrefix(wf, workflows.PromotionPrefix) && rollback:
		return SwitchCompensation
	case strings.HasPrefix(wf, workflows.PromotionPrefix):
		return SwitchPromotion
	case rollback:
		return SwitchRollback
	case strings.HasPrefix(wf, dailySyncPrefix):
		return SwitchDailySync
	}
	return SwitchManual
}

// Audit lists every switch of channel, oldest first, names its kind and
// checks it against the provenance the store keeps: the promotion that
// made it and its approver and window, the candidate with the gate it
// passed, testing's log, and the bypass records. A channel serving a
// release that no completed switch names ends the list with a
// SwitchUnrecorded entry.
func Audit(st *repo.Store, cfg *config.Config, channel string) ([]AuditEntry, error) {
	log, err := st.History(channel)
	if err != nil {
		return nil, err
	}
	testing, err := st.History(cfg.Channels.Testing)
	if err != nil {
		return nil, err
	}
	bypasses, err := st.Bypasses()
	if err != nil {
		return nil, err
	}
	served := func(release string) bool {
		return slices.ContainsFunc(testing, func(s repo.Switch) bool { return s.To == release && s.Moved() })
	}
	production := channel == cfg.Channels.Production
	var out []AuditEntry
	for _, sw := range log {
		if !sw.Moved() {
			continue
		}
		e := AuditEntry{Switch: sw, Kind: switchKind(sw), ServedByTesting: served(sw.To)}
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
		// With bypasses chained, the nearest release in the chain that
		// became a candidate is the one that passed the gate.
		var c activities.Candidate
		base, found, err := st.CandidateInChain(sw.To, &c)
		if err != nil {
			return nil, err
		}
		e.Base = base
		if found {
			e.Gate, e.Rounds = c.Gate, c.Rounds
		}
		gatePassed := len(e.Gate) > 0 && !slices.ContainsFunc(e.Gate, func(r string) bool { return !strings.HasPrefix(r, "ok:") })
		e.Tested = (e.ServedByTesting || served(base)) && gatePassed
		e.Bypass = bypassRecord(bypasses, sw)
		e.Verdict, e.Warn = verdict(e, production, e.Bypass != nil, out)
		out = append(out, e)
	}
	cur, err := st.Channel(channel)
	if err != nil {
		return nil, err
	}
	if logged := lastTo(out); cur != logged {
		out = append(out, AuditEntry{
			Switch: repo.Switch{Channel: channel, From: logged, To: cur},
			Kind:   SwitchUnrecorded, Warn: true, Base: cur,
			Verdict: fmt.Sprintf("%s serves %s, but no completed switch in its log names it: a switch interrupted after its rename; "+
				"its retry, or the channel's next switch or freeze, records it", channel, orNone(cur)),
		})
	}
	return out, nil
}

func lastTo(entries []AuditEntry) string {
	if len(entries) == 0 {
		return ""
	}
	return entries[len(entries)-1].Switch.To
}

// bypassRecord is the finished bypass that made the switch, nil if none.
func bypassRecord(bypasses []repo.BypassRecord, sw repo.Switch) *repo.BypassRecord {
	i := slices.IndexFunc(bypasses, func(b repo.BypassRecord) bool {
		return slices.ContainsFunc(b.Switches, func(s repo.Switch) bool { return s.Key == sw.Key && s.To == sw.To })
	})
	if i < 0 {
		return nil
	}
	return &bypasses[i]
}

// verdict says in words what backs the switch e, and whether nothing
// does: for production, only an approved promotion of a tested release, a
// recorded bypass, or the rollback of such a promotion when it failed;
// for other channels, anything but a manual switch or rollback.
func verdict(e AuditEntry, production, recordedBypass bool, before []AuditEntry) (string, bool) {
	sw := e.Switch
	switch e.Kind {
	case SwitchBypass:
		v := fmt.Sprintf("emergency bypass by %s on top of %s: %s", sw.Actor, e.Base, sw.Reason)
		if !e.Tested {
			v += " (the base release has no passed gate on record)"
		}
		if !recordedBypass {
			return v + "; no bypass record: the bypass did not finish", true
		}
		return v, false
	case SwitchPromotion:
		switch {
		case e.Promotion == nil:
			return "promotion switch with no approved promotion on record, by " + sw.Actor, true
		case !e.Tested:
			return fmt.Sprintf("promotion %s approved by %s, but the release has no passed gate on record", e.Promotion.Promotion, e.Promotion.Approver), true
		}
		return fmt.Sprintf("promotion %s approved by %s: a release testing served, gate passed after %d rounds", e.Promotion.Promotion, e.Promotion.Approver, e.Rounds), false
	case SwitchCompensation:
		// It undoes the promotion just before it, back to where that
		// promotion found the channel.
		wf, _, _ := strings.Cut(sw.Key, "/")
		n := len(before)
		undoes := n > 0 && before[n-1].Kind == SwitchPromotion && strings.HasPrefix(before[n-1].Switch.Key, wf+"/") && before[n-1].Switch.From == sw.To
		if !undoes {
			return "rollback after a failed promotion, by " + sw.Actor + ", but not back to where that promotion found the channel", true
		}
		return "rollback after a failed promotion, by " + sw.Actor, false
	case SwitchRollback:
		return fmt.Sprintf("NOT a promotion: a manual rollback by %s (%s); not tied to a passed gate", sw.Actor, sw.Reason), true
	case SwitchDailySync:
		if production {
			return "NOT a promotion: a daily sync switched production, by " + sw.Actor, true
		}
		return "daily sync, by " + sw.Actor, false
	}
	return fmt.Sprintf("NOT a promotion: a manual switch by %s (%s); not tied to a passed gate", sw.Actor, sw.Reason), true
}

func (a *app) auditCommand() *cobra.Command {
	var verify bool
	cmd := &cobra.Command{
		Use:   "audit CHANNEL",
		Short: "Prove what a channel served: each switch with its promotion, approver, window and gate",
		Long: `Lists every switch of CHANNEL (production, say), oldest first, with what it was
(promotion, bypass, rollback after a failed promotion, manual rollback, daily
sync, manual switch) and what backs it: the promotion, its approver and
window, the test rounds and gate result that passed the release, whether
testing served it, the bypass record. Marked WARN: a switch of production not
backed by an approved promotion of a tested release, a recorded bypass or the
rollback of a failed promotion; a manual switch or rollback of any channel; a
release the channel serves that no completed switch in its log names. Reads
the store. With --verify, also verifies each promotion's and bypass's signed
approval (production.requireSignedApprovals) against the keys in
production.approvers, read from the switch's record (promotions.log,
bypasses.log), or from the workflow's history in Temporal for a switch
recorded without it: a switch whose approval is unsigned or does not verify
is marked WARN. Exit status 1 when the channel's current release came by a
WARN.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(func(cfg *config.Config, st *repo.Store) error {
				if err := repo.CheckChannelName(args[0]); err != nil {
					return UsageError{err}
				}
				entries, err := Audit(st, cfg, args[0])
				if err != nil {
					return err
				}
				if verify {
					err = a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
						return VerifyApprovals(ctx, c, cfg, entries)
					})
					if err != nil {
						return err
					}
				}
				if a.jsonOut {
					if err := printJSON(a.stdout, entries); err != nil {
						return err
					}
				} else {
					a.printAudit(args[0], entries)
				}
				if n := len(entries); n > 0 && entries[n-1].Warn {
					return fmt.Errorf("%s serves %s, which its process does not account for: %s", args[0], entries[n-1].Switch.To, entries[n-1].Verdict)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "verify each promotion's and bypass's signed approval against production.approvers' keys")
	return cmd
}

func (a *app) printAudit(channel string, entries []AuditEntry) {
	w := a.stdout
	if len(entries) == 0 {
		fmt.Fprintf(w, "%s has never been switched\n", channel)
		return
	}
	for _, e := range entries {
		mark := "ok  "
		if e.Warn {
			mark = "WARN"
		}
		when := e.Switch.Time.Local().Format(time.DateTime)
		if e.Kind == SwitchUnrecorded {
			when = "(not in the log) "
		}
		fmt.Fprintf(w, "%s %s  %s -> %s\n     %s\n", mark, when, orNone(e.Switch.From), e.Switch.To, e.Verdict)
		if p := e.Promotion; p != nil {
			fmt.Fprintf(w, "     window %s to %s; outcome %s\n", p.WindowStart.Local().Format(time.DateTime), p.WindowEnd.Local().Format(time.DateTime), orNone(e.Outcome))
		}
		if c := e.Approval; c != nil && c.Verified {
			fmt.Fprintf(w, "     approval signed by %s, key %s: verified (from %s)\n", c.By, c.Fingerprint, c.Source)
		}
		for _, g := range e.Gate {
			fmt.Fprintf(w, "     gate %s\n", g)
		}
		if !e.ServedByTesting && e.Kind != SwitchUnrecorded {
			fmt.Fprintf(w, "     testing never served %s\n", e.Switch.To)
		}
	}
}
