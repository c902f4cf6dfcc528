package tests

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/proto"

	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/integrations/tickets"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// check waits for the system to settle (invariant 4 is that it does) and
// returns every invariant violation it finds, in the order of the
// invariants.
func (c *chaos) check(ctx context.Context) []string {
	var v []string
	unsettled := c.settle(context.Background())
	channels := []string{c.s.cfg.Channels.Daily, c.s.cfg.Channels.Testing, c.s.cfg.Channels.Production}
	for _, ch := range channels {
		cur, err := c.s.store.Channel(ch)
		if err != nil {
			v = append(v, fmt.Sprintf("read channel %s: %v", ch, err))
			continue
		}
		if seen := c.served[ch]; cur != "" && (len(seen) == 0 || seen[len(seen)-1] != cur) {
			c.served[ch] = append(seen, cur)
		}
	}
	for _, ch := range channels {
		v = append(v, c.checkAudit(ch)...)
	}
	for _, ch := range channels {
		v = append(v, c.checkKeys(ch)...)
	}
	v = append(v, c.checkTickets(ctx)...)
	v = append(v, c.checkBypasses()...)
	v = append(v, c.checkSilences(ctx)...)
	v = append(v, c.checkMail()...)
	v = append(v, c.checkTestBranches()...)
	c.mu.Lock()
	v, c.found = append(v, c.found...), nil
	c.mu.Unlock()
	for _, ch := range channels {
		v = append(v, c.checkDnf(ch)...)
	}
	v = append(v, unsettled...)
	v = append(v, c.checkHistories(context.Background())...)
	return v
}

// checkAudit: invariant 1, every release the channel was seen serving is
// in its audit, in order, and no switch is unrecorded; for production,
// `osflow audit production` exits 0 unless the current release came by
// this run's manual rollback; and invariant 5, production's audit has no
// WARN but for this run's manual rollbacks.
func (c *chaos) checkAudit(ch string) []string {
	var v []string
	audit, err := starter.Audit(c.s.store, c.s.cfg, ch)
	if err != nil {
		return []string{fmt.Sprintf("inv1 audit %s: %v", ch, err)}
	}
	var listed []string
	for _, e := range audit {
		if e.Kind == starter.SwitchUnrecorded {
			v = append(v, fmt.Sprintf("inv1 %s: %s", ch, e.Verdict))
			continue
		}
		listed = append(listed, e.Switch.To)
	}
	if !subsequence(c.served[ch], listed) {
		v = append(v, fmt.Sprintf("inv1 %s served %v, its audit lists %v", ch, c.served[ch], listed))
	}
	if ch != c.s.cfg.Channels.Production {
		return v
	}
	manualNow := false
	for _, e := range audit {
		manual := e.Kind == starter.SwitchRollback && c.manualProduction[e.Switch.Key]
		manualNow = manual
		if e.Warn && !manual {
			v = append(v, fmt.Sprintf("inv5 production %s -> %s (%s, key %s): WARN %s", e.Switch.From, e.Switch.To, e.Kind, e.Switch.Key, e.Verdict))
		}
	}
	if out, err := c.s.osflow("audit", ch); err != nil && !manualNow {
		v = append(v, fmt.Sprintf("inv1 osflow audit production: %v\n%s", err, out))
	}
	return v
}

// subsequence reports whether every element of want appears in have, in order.
func subsequence(want, have []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && want[i] == h {
			i++
		}
	}
	return i == len(want)
}

// checkKeys: invariant 2, no operation key moved a channel twice.
func (c *chaos) checkKeys(ch string) []string {
	log, err := c.s.store.History(ch)
	if err != nil {
		return []string{fmt.Sprintf("inv2 history %s: %v", ch, err)}
	}
	moves := map[string]int{}
	var v []string
	for _, sw := range log {
		if sw.Moved() && sw.Key != "" {
			if moves[sw.Key]++; moves[sw.Key] == 2 {
				v = append(v, fmt.Sprintf("inv2 %s: key %s switched the channel twice", ch, sw.Key))
			}
		}
	}
	return v
}

// checkTickets: invariant 2, no fingerprint has two open tickets.
func (c *chaos) checkTickets(ctx context.Context) []string {
	tr := &tickets.FileTracker{Dir: c.s.cfg.Tickets.Dir}
	if tr.Dir == "" {
		tr.Dir = filepath.Join(c.s.dir, "tickets")
	}
	open, err := tr.ListOpen(ctx)
	if err != nil {
		return []string{fmt.Sprintf("inv2 list open tickets: %v", err)}
	}
	seen := map[string]string{}
	var v []string
	for _, tk := range open {
		if other, dup := seen[tk.Fingerprint]; dup {
			v = append(v, fmt.Sprintf("inv2 tickets %s and %s are both open for %q", other, tk.ID, tk.Fingerprint))
		}
		seen[tk.Fingerprint] = tk.ID
	}
	return v
}

// checkBypasses: invariant 2, no bypass key recorded twice.
func (c *chaos) checkBypasses() []string {
	recs, err := c.s.store.Bypasses()
	if err != nil {
		return []string{fmt.Sprintf("inv2 bypasses.log: %v", err)}
	}
	seen := map[string]bool{}
	var v []string
	for _, r := range recs {
		if seen[r.Key] {
			v = append(v, fmt.Sprintf("inv2 bypasses.log records key %s twice", r.Key))
		}
		seen[r.Key] = true
	}
	return v
}

// checkSilences: invariant 2, no operation key made two silences (the
// key is the marker osflow ends each silence's comment with).
func (c *chaos) checkSilences(ctx context.Context) []string {
	ss, err := c.w.silences(ctx)
	if err != nil {
		return []string{fmt.Sprintf("inv2 list the silences: %v", err)}
	}
	byKey := map[string][]string{}
	for _, s := range ss {
		if i := strings.LastIndex(s.Comment, "[osflow:"); i >= 0 {
			byKey[s.Comment[i:]] = append(byKey[s.Comment[i:]], s.ID)
		}
	}
	var v []string
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		if ids := byKey[key]; len(ids) > 1 {
			v = append(v, fmt.Sprintf("inv2 silences %v all carry %s", ids, key))
		}
	}
	return v
}

// checkMail: invariant 2, no operation key was mailed twice (osflow
// derives a message's Message-ID from its key). Each is reported once.
func (c *chaos) checkMail() []string {
	var v []string
	for _, id := range c.w.mail.twice() {
		if !c.reported[id] {
			c.reported[id] = true
			v = append(v, "inv2 notification mailed twice: "+id)
		}
	}
	return v
}

// checkTestBranches: invariant 7, the test branch of the config and the
// monitoring repo holds every change the run committed there: no
// merge-back brought a revert of a tested commit into it.
func (c *chaos) checkTestBranches() []string {
	var v []string
	for _, repo := range slices.Sorted(maps.Keys(c.w.tested)) {
		for _, file := range slices.Sorted(maps.Keys(c.w.tested[repo])) {
			want := c.w.tested[repo][file]
			if got, err := c.w.gitShow(repo, "test", file); err != nil || got != strings.TrimSpace(want) {
				v = append(v, fmt.Sprintf("inv7 %s: test has %q in %s (err %v), the run committed %q", repo, got, file, err, want))
			}
		}
	}
	return v
}

// testedNow copies what the run committed on the test branches.
func (c *chaos) testedNow() map[string]map[string]string {
	out := map[string]map[string]string{}
	for repo, files := range c.w.tested {
		out[repo] = maps.Clone(files)
	}
	return out
}

// testTips reads the test branches' commits.
func (c *chaos) testTips() (map[string]string, error) {
	tips := map[string]string{}
	for repo := range c.w.repos {
		tip, err := c.w.gitTip(repo, "test")
		if err != nil {
			return nil, fmt.Errorf("read the test branch of %s: %w", repo, err)
		}
		tips[repo] = tip
	}
	return tips, nil
}

// checkPromoted: invariant 7, after promotion id succeeded, every commit
// that was on the test branches when it was approved (tips) is on the
// production branches, and production holds what was tested there.
func (c *chaos) checkPromoted(id string, tips map[string]string, tested map[string]map[string]string) []string {
	var v []string
	for _, repo := range slices.Sorted(maps.Keys(tips)) {
		if _, err := scmtest.Run(c.w.repos[repo].Bare, nil, "merge-base", "--is-ancestor", tips[repo], "refs/heads/production"); err != nil {
			v = append(v, fmt.Sprintf("inv7 %s succeeded, but test's %s is not on production in %s: %v", id, tips[repo][:12], repo, err))
		}
		for _, file := range slices.Sorted(maps.Keys(tested[repo])) {
			want := tested[repo][file]
			if got, err := c.w.gitShow(repo, "production", file); err != nil || got != strings.TrimSpace(want) {
				v = append(v, fmt.Sprintf("inv7 %s succeeded, but production has %q in %s of %s (err %v), test had %q", id, got, file, repo, err, want))
			}
		}
	}
	return v
}

// report keeps violations an action's goroutine found for the step's checks.
func (c *chaos) report(v ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.found = append(c.found, v...)
}

// checkDnf: invariant 3, real dnf reads the channel's metadata.
func (c *chaos) checkDnf(ch string) []string {
	cur, err := c.s.store.Channel(ch)
	if err != nil || cur == "" {
		return nil // read errors are reported by the audit check
	}
	out, err := c.s.tryDnf(filepath.Join(c.s.dir, "chaos-node-"+ch), ch, "makecache")
	if err != nil {
		return []string{fmt.Sprintf("inv3 dnf makecache on %s (%s): %v\n%s", ch, cur, err, out)}
	}
	return nil
}

// settle waits up to settleBound for every open workflow to be waiting
// for a person (invariant 4) and returns the ones that are not.
func (c *chaos) settle(ctx context.Context) []string {
	var pending []string
	err := poll(ctx, settleBound, func() (bool, error) {
		open, err := c.open(ctx)
		if err != nil {
			return false, nil
		}
		pending = pending[:0]
		for _, e := range open {
			id := e.GetExecution().GetWorkflowId()
			if why := c.busy(ctx, e.GetType().GetName(), id); why != "" {
				pending = append(pending, id+": "+why+c.pendingActivities(ctx, id))
			}
		}
		return len(pending) == 0, nil
	})
	if err == nil {
		return nil
	}
	var v []string
	for _, p := range pending {
		v = append(v, fmt.Sprintf("inv4 not settled %s after the step (last kill: %s): %s", settleBound, timeSince(c.lastKill), p))
	}
	return v
}

// busy says why a running workflow is neither waiting for a person nor
// idle, or "" if it is.
func (c *chaos) busy(ctx context.Context, typ, id string) string {
	switch typ {
	case workflows.TestCycleWorkflowType:
		st, err := starter.CycleStatus(ctx, c.s.client)
		switch {
		case err != nil:
			return "status: " + err.Error()
		case st.InRound != nil || st.Phase == workflows.PhaseTesting || st.Phase == workflows.PhaseRehearsal:
			return "phase " + st.Phase
		case st.Wake || st.TestNow:
			return "woken, not yet read testing"
		}
		return ""
	case "Promotion":
		st, err := c.promotion(ctx, id)
		if err != nil {
			return "status: " + err.Error()
		}
		switch st.Phase {
		case workflows.PhaseAwaitingApproval, workflows.PhaseAwaitingWindow, workflows.PhaseAwaitingDecision:
			return ""
		}
		if strings.Contains(st.WaitingFor, "end-outage") || strings.HasPrefix(st.WaitingFor, "manual task") {
			return ""
		}
		return fmt.Sprintf("phase %s, waiting for %s", st.Phase, st.WaitingFor)
	}
	return typ + " still running"
}

// checkHistories: invariant 6, no history past its bounds and no event
// (so no payload) past maxEventBytes. Closed runs are read once.
func (c *chaos) checkHistories(ctx context.Context) []string {
	all, err := c.list(ctx, "")
	if err != nil {
		return []string{"inv6 " + err.Error()}
	}
	var v []string
	for _, e := range all {
		id, runID := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
		if c.scanned[runID] {
			continue
		}
		events, bytes, biggest := 0, 0, 0
		it := c.s.client.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				v = append(v, fmt.Sprintf("inv6 history of %s/%s: %v", id, runID, err))
				break
			}
			n := proto.Size(ev)
			events, bytes, biggest = events+1, bytes+n, max(biggest, n)
		}
		if events > maxHistoryEvents || bytes > maxHistoryBytes {
			v = append(v, fmt.Sprintf("inv6 %s/%s: %d events, %d bytes (bounds %d, %d)", id, runID, events, bytes, maxHistoryEvents, maxHistoryBytes))
		}
		if biggest > maxEventBytes {
			v = append(v, fmt.Sprintf("inv6 %s/%s: an event of %d bytes (bound %d)", id, runID, biggest, maxEventBytes))
		}
		if e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			c.scanned[runID] = true
		}
	}
	return slices.Clip(v)
}

func timeSince(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// pendingActivities describes a workflow's pending activities, the
// evidence of a violation of invariant 4.
func (c *chaos) pendingActivities(ctx context.Context, id string) string {
	desc, err := c.s.client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return "; describe: " + err.Error()
	}
	var b strings.Builder
	for _, pa := range desc.GetPendingActivities() {
		fmt.Fprintf(&b, "; pending %s %s attempt %d, last heartbeat %s, last failure %q",
			pa.GetActivityType().GetName(), pa.GetState(), pa.GetAttempt(),
			pa.GetLastHeartbeatTime().AsTime().Format(time.RFC3339), oneLine(pa.GetLastFailure().GetMessage(), 200))
	}
	return b.String()
}
