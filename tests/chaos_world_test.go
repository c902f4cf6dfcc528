package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/integrations/monitoring/amtest"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/workflows"
)

// world is what the chaos site talks to besides Temporal and the store:
// a config and a monitoring git repository (test and production
// branches), the real Alertmanager, a mail server, and a vendor's
// download site the overlay watches.
type world struct {
	// repos are the git repositories by their configured name.
	repos map[string]*scmtest.Remote
	// tested holds, per repo and file, what the chaos run last committed
	// on the test branch: the test branch must keep it (no merge-back
	// brings a revert of it), and a successful promotion puts it on
	// production.
	tested       map[string]map[string]string
	alertmanager string
	mail         *mailSink
	vendor       *vendor
}

func newWorld(t *testing.T) *world {
	w := &world{repos: map[string]*scmtest.Remote{}, tested: map[string]map[string]string{}}
	for _, name := range []string{"puppet", "nagioscfg"} {
		r := scmtest.NewRemote(t)
		r.Commit("production", "initial", map[string]string{"site.pp": "include base\n"})
		r.Branch("test", "production")
		w.repos[name] = r
		w.tested[name] = map[string]string{"site.pp": "include base\n"}
	}
	w.alertmanager = amtest.Start(t, "")
	w.mail = startMailSink(t)
	w.vendor = newVendor(t)
	w.vendor.release(spec("vendor-app", "1.0"))
	return w
}

// sourcesYAML is the overlay's watched source, continuing the site
// overlay's entry.
func (w *world) sourcesYAML() string {
	return fmt.Sprintf(`    sources:
      - url: %[1]s/dl/
        kind: listing
        include: ['vendor-app-*.rpm']
        checksumURL: %[1]s/dl/SHA256SUMS
    watch: ['0 0 1 1 *']
`, w.vendor.srv.URL)
}

// yaml is the world's top-level configuration sections.
func (w *world) yaml() string {
	return fmt.Sprintf(`git:
  config:
    - name: puppet
      url: %s
  monitoring:
    - name: nagioscfg
      url: %s
monitoring:
  alertmanager:
    url: %s
    matchers: ['cluster="production"']
notify:
  smtp:
    host: 127.0.0.1
    port: %d
    tls: none
    from: osflow@chaos.test
    to: [ops@chaos.test]
`, w.repos["puppet"].URL(), w.repos["nagioscfg"].URL(), w.alertmanager, w.mail.port())
}

// gitTip is a branch's commit in a repo, read without failing the test.
func (w *world) gitTip(repo, branch string) (string, error) {
	return scmtest.Run(w.repos[repo].Bare, nil, "rev-parse", "--verify", "refs/heads/"+branch)
}

// gitShow is a file on a branch, "" with an error if it is not there.
func (w *world) gitShow(repo, branch, path string) (string, error) {
	out, err := scmtest.Run(w.repos[repo].Bare, nil, "cat-file", "blob", "refs/heads/"+branch+":"+path)
	return out, err
}

// mailSink is a loopback SMTP server (no TLS, no auth) that counts the
// messages of each Message-ID: osflow derives it from the operation key,
// so two of one ID are one notification sent twice.
type mailSink struct {
	ln       net.Listener
	mu       sync.Mutex
	ids      map[string]int
	subjects []string
}

func startMailSink(t *testing.T) *mailSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := &mailSink{ln: ln, ids: map[string]int{}}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go m.serve(conn)
		}
	}()
	return m
}

func (m *mailSink) port() int { return m.ln.Addr().(*net.TCPAddr).Port }

func (m *mailSink) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	say := func(s string) { fmt.Fprintf(conn, "%s\r\n", s) }
	say("220 chaos ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(verb) {
		case "DATA":
			say("354 end with .")
			id, subject, err := readMessage(r)
			if err != nil {
				return
			}
			m.mu.Lock()
			m.ids[id]++
			m.subjects = append(m.subjects, subject)
			m.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default: // EHLO, MAIL, RCPT, RSET, NOOP
			say("250 ok")
		}
	}
}

// readMessage reads a message up to its final "." line and returns its
// Message-ID and Subject headers.
func readMessage(r *bufio.Reader) (id, subject string, err error) {
	headers := true
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		l = strings.TrimRight(l, "\r\n")
		switch k, v, ok := strings.Cut(l, ":"); {
		case l == ".":
			return id, subject, nil
		case l == "":
			headers = false
		case headers && ok && strings.EqualFold(k, "Message-ID"):
			id = strings.TrimSpace(v)
		case headers && ok && strings.EqualFold(k, "Subject"):
			subject = strings.TrimSpace(v)
		}
	}
}

// count is how many messages had a subject containing s.
func (m *mailSink) count(s string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, subject := range m.subjects {
		if strings.Contains(subject, s) {
			n++
		}
	}
	return n
}

// twice lists the Message-IDs delivered more than once.
func (m *mailSink) twice() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, n := range m.ids {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s (%d times)", id, n))
		}
	}
	return out
}

// silences reads every silence of the Alertmanager, as amtool would,
// without failing the test.
func (w *world) silences(ctx context.Context) ([]amtest.Silence, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.alertmanager+"api/v2/silences", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager: %s", resp.Status)
	}
	var ss []amtest.Silence
	return ss, json.NewDecoder(resp.Body).Decode(&ss)
}

// configChange commits a change on the test branch of the config or the
// monitoring repo, as the site's admins do between outages.
func (c *chaos) configChange() func(context.Context) (string, error) {
	repo := []string{"puppet", "nagioscfg"}[c.rng.IntN(2)]
	n := c.next("change-" + repo)
	file := fmt.Sprintf("chaos/%d.pp", c.rng.IntN(3))
	content := fmt.Sprintf("# change %d of %s\n", n, repo)
	commit := c.w.repos[repo].Commit("test", fmt.Sprintf("chaos change %d", n), map[string]string{file: content})
	c.w.tested[repo][file] = content
	return func(context.Context) (string, error) {
		return fmt.Sprintf("%s: %s on test (%s)", repo, file, commit[:12]), nil
	}
}

// vendorWatch publishes a new vendor-app build on the vendor's site and
// triggers the overlay's watch schedule, then waits for that watch's run.
func (c *chaos) vendorWatch() func(context.Context) (string, error) {
	v := fmt.Sprintf("2.%d", c.next("vendor-app"))
	c.w.vendor.release(spec("vendor-app", v))
	return func(ctx context.Context) (string, error) {
		h := c.s.client.ScheduleClient().GetHandle(ctx, workflows.OverlayWatchScheduleID("site"))
		last := func() (client.ScheduleWorkflowExecution, error) {
			d, err := h.Describe(ctx)
			if err != nil {
				return client.ScheduleWorkflowExecution{}, err
			}
			if n := len(d.Info.RecentActions); n > 0 && d.Info.RecentActions[n-1].StartWorkflowResult != nil {
				return *d.Info.RecentActions[n-1].StartWorkflowResult, nil
			}
			return client.ScheduleWorkflowExecution{}, nil
		}
		var before, started client.ScheduleWorkflowExecution
		if err := poll(ctx, settleBound, func() (bool, error) {
			var err error
			before, err = last()
			return err == nil, nil
		}); err != nil {
			return "vendor-app " + v + ": describe the watch schedule", err
		}
		if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
			return "vendor-app " + v + ": trigger the watch", err
		}
		if err := poll(ctx, settleBound, func() (bool, error) {
			var err error
			started, err = last()
			return err == nil && started != before && started.WorkflowID != "", nil
		}); err != nil {
			return "vendor-app " + v + ": the schedule started no watch", err
		}
		var st workflows.OverlayWatchStatus
		err := c.s.client.GetWorkflow(ctx, started.WorkflowID, started.FirstExecutionRunID).Get(ctx, &st)
		return fmt.Sprintf("vendor-app %s: watch %s %s, added %v %s", v, started.WorkflowID, st.Phase, st.Added, st.Error), err
	}
}

// plant does, outside osflow, what the world's checks must report: a
// revert of a tested change on puppet's test branch, two silences of one
// key, and one message mailed twice.
func (w *world) plant(t *testing.T) {
	w.repos["puppet"].Commit("test", "revert by hand", map[string]string{"site.pp": "reverted\n"})
	now := time.Now().UTC()
	silence, err := json.Marshal(map[string]any{
		"matchers": []map[string]any{{"name": "cluster", "value": "production", "isRegex": false, "isEqual": true}},
		"startsAt": now, "endsAt": now.Add(time.Hour), "createdBy": "root", "comment": "by hand [osflow:planted-silence]",
	})
	require.NoError(t, err)
	for range 2 {
		resp, err := http.Post(w.alertmanager+"api/v2/silences", "application/json", bytes.NewReader(silence))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
	}
	msg := []byte("Message-ID: <planted@chaos.test>\r\nSubject: planted\r\n\r\nsent twice\r\n")
	for range 2 {
		require.NoError(t, smtp.SendMail(fmt.Sprintf("127.0.0.1:%d", w.mail.port()), nil, "root@chaos.test", []string{"ops@chaos.test"}, msg))
	}
}
