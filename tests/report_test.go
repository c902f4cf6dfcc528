package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/workflows"
)

// webhookSink is a Slack-style incoming webhook that keeps each message.
type webhookSink struct {
	mu   sync.Mutex
	msgs []string
	url  string
}

func newWebhookSink(t *testing.T) *webhookSink {
	t.Helper()
	w := &webhookSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct{ Text string }
		if json.Unmarshal(b, &m) != nil {
			http.Error(rw, "not JSON", http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, m.Text)
		w.mu.Unlock()
		_, _ = io.WriteString(rw, "ok")
	}))
	t.Cleanup(srv.Close)
	w.url = srv.URL + "/hooks/osflow"
	return w
}

// waitFor waits for a message containing each of want, and returns it.
func (w *webhookSink) waitFor(t *testing.T, want ...string) string {
	t.Helper()
	var found string
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, m := range w.msgs {
			ok := true
			for _, s := range want {
				ok = ok && strings.Contains(m, s)
			}
			if ok {
				found = m
				return true
			}
		}
		return false
	}, 3*time.Minute, 100*time.Millisecond, "no notification with %q; got:\n%s", want, strings.Join(w.all(), "\n---\n"))
	return found
}

func (w *webhookSink) all() []string {
	return append([]string(nil), w.msgs...)
}

// TestUserReportReachesStatusRiskReportAndNotifications is issue 17's
// production users' input and notifications end to end: a user reports
// a problem with osflow report; osflow status lists it at once; the next
// candidate's risk report (wiki page and notification) lists it; a
// comment reaches the page and the notifications; approval, the window's
// start, each outage step, the outcome and the merge-back each notify
// once.
func TestUserReportReachesStatusRiskReportAndNotifications(t *testing.T) {
	hook := newWebhookSink(t)
	hookFile := filepath.Join(t.TempDir(), "webhook-url")
	require.NoError(t, os.WriteFile(hookFile, []byte(hook.url+"\n"), 0o600))
	puppet := scmtest.NewRemote(t)
	puppet.Commit("production", "initial", map[string]string{"site.pp": "include base\n"})
	puppet.Branch("test", "production")
	puppet.Commit("test", "add slurm client", map[string]string{"site.pp": "include base\ninclude slurm\n"})
	wikiRepo := scmtest.NewRemote(t)
	wikiRepo.Commit("master", "start", map[string]string{"Home.md": "# Procedures\n"})
	s := newSite(t, "e2e-report", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, passingSmoke+`  roundInterval: 24h
outage:
  tasks:
    - name: drain
      command: ["sh", "-c", "echo draining $OSFLOW_CHANNEL"]
      expected: 1m
production:
  approvers: [alice]
  userTickets: {label: production-user}
git:
  config:
    - name: puppet
      url: `+puppet.URL()+`
wiki:
  url: `+wikiRepo.URL()+`
notify:
  webhook:
    urlFile: `+hookFile+`
`)

	// A production user reports a problem; status lists it at once.
	out, err := s.osflow("report", "mpirun hangs after the update", "jobs on cn042 hang in MPI_Init", "--as", "carol", "--package", "openmpi", "--node", "cn042")
	require.NoError(t, err, out)
	require.Contains(t, out, "reported as ")
	id := strings.Fields(strings.TrimPrefix(out, "reported as "))[0]
	id = strings.TrimSuffix(id, ":")
	out, _ = s.osflow("status")
	require.Contains(t, out, "PRODUCTION USERS' REPORTS (1 open")
	require.Contains(t, out, id+" openmpi: mpirun hangs after the update")

	// The next candidate's risk report lists it, on the page and in the
	// notification, with the advisories' and git changes' details and a
	// link to the page.
	r1 := s.sync().Release
	s.cycleState(func(st workflows.TestCycleState) bool { return st.Promoted == r1 }, "candidate "+r1)
	p := workflows.PromotionWorkflowID(r1)
	st := s.promotionState(p, func(st workflows.PromotionStatus) bool { return st.RiskPage != "" }, "the risk report")
	require.Len(t, st.Users, 1)
	require.Equal(t, id, st.Users[0].ID)
	page := wikiRepo.Show("master", "Release-"+r1+".md")
	require.Contains(t, page, "### Production users' input (1)")
	require.Contains(t, page, "openmpi: mpirun hangs after the update")
	risk := hook.waitFor(t, "is ready for production (risk report)")
	require.Contains(t, risk, "Production users' input:\n- "+id+" openmpi: mpirun hangs after the update")
	require.Contains(t, risk, "- puppet (test -> production):\n")
	require.Contains(t, risk, "add slurm client")
	require.Contains(t, risk, "Full report: the wiki page Release-"+r1+" (")

	// A comment reaches the page and the notifications; status lists it.
	out, err = s.osflow("comment", p, "the chemistry group has a deadline job until Friday", "--as", "dave")
	require.NoError(t, err, out)
	hook.waitFor(t, "dave commented on the promotion of "+r1, "deadline job")
	require.Contains(t, wikiRepo.Show("master", "Release-"+r1+".md"), "## Comments\n\n- dave, ")
	out, _ = s.osflow("status")
	require.Contains(t, out, "comment by dave at ")
	require.Contains(t, out, "user report in its risk report "+id+" openmpi: mpirun hangs after the update")

	// Approval and the window's start notify; so does each step, the
	// outcome and the merge-back.
	out, err = s.osflow("approve", p, "--as", "alice", "--window-start", "now", "--comment", "go ahead")
	require.NoError(t, err, out)
	approved := hook.waitFor(t, "outage of release "+r1+" approved by alice for ")
	require.Contains(t, approved, "go ahead")
	require.Contains(t, approved, "Window: ")
	hook.waitFor(t, "outage window of release "+r1+" begins")
	for _, step := range []string{"silence monitoring", "backup", "switch production", "merge puppet", "task drain", "verify production"} {
		hook.waitFor(t, fmt.Sprintf("outage of %s: %s done", r1, step))
	}
	hook.waitFor(t, "production now serves release "+r1)
	require.NoError(t, waitWorkflow(t, s, p))
	require.NoError(t, waitWorkflow(t, s, workflows.MergeBackWorkflowID(r1)))
	hook.waitFor(t, "hotfixes of release "+r1+" merged back to test", "- puppet into test:")

	// Each message went out once.
	seen := map[string]int{}
	for _, m := range hook.all() {
		seen[strings.SplitN(m, "\n", 2)[0]]++
	}
	for subject, n := range seen {
		require.Equal(t, 1, n, "sent once: %s", subject)
	}
	recordHistory(t, s.client, p, "", "promotion-v4-notify")
	recordHistory(t, s.client, workflows.MergeBackWorkflowID(r1), "", "mergeback-v4-notify")
}
