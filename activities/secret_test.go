package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/monitoring/nagiostest"
	"github.com/osflow/osflow/integrations/notify"
)

// recorder keeps the messages a notification sent, as a channel would show them.
type recorder struct {
	mu   sync.Mutex
	sent []notify.Message
}

func (r *recorder) Send(_ context.Context, m notify.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

// Issue 16 #7: with monitoring.nagios.commandFile naming a running
// Nagios's command FIFO, as the README documents it, the redactor read
// the FIFO as a secret file: every notification (and suite, and outage
// task) hung on it and took the commands meant for Nagios.
func TestNotifyLeavesTheNagiosCommandFIFOAlone(t *testing.T) {
	n := nagiostest.Start(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "github-token")
	require.NoError(t, os.WriteFile(token, []byte("ghp_s3cr3tT0kenValue\n"), 0o600))
	cfg, err := config.Parse(filepath.Join(dir, "osflow.yaml"), []byte(fmt.Sprintf(`store: store
repos:
  - name: site
    overlay: true
tickets:
  github:
    repo: hpc/os
    tokenFile: %s
monitoring:
  nagios:
    hostgroups: [compute]
    commandFile: %s
    statusFile: %s
`, token, n.CmdFile, n.StatusFile)))
	require.NoError(t, err)
	rec := &recorder{}
	a := &PromotionActivities{Config: cfg, Notifier: rec}

	done := make(chan error, 1)
	go func() {
		done <- a.Notify(t.Context(), NotifyInput{Key: "k1", Subject: "outage", Text: "the task printed ghp_s3cr3tT0kenValue"})
	}()
	// Commands written while the notification runs all reach Nagios.
	before := len(n.Commands(t))
	fifo, err := os.OpenFile(n.CmdFile, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer fifo.Close()
	for i := range 3 {
		_, err := fmt.Fprintf(fifo, "[%d] ENABLE_HOSTGROUP_SVC_NOTIFICATIONS;compute%d\n", time.Now().Unix(), i)
		require.NoError(t, err)
	}
	var sendErr error
	require.Eventually(t, func() bool {
		select {
		case sendErr = <-done:
			return true
		default:
			return false
		}
	}, 10*time.Second, 20*time.Millisecond, "the notification never completed: it reads the Nagios command FIFO")
	require.NoError(t, sendErr)
	require.Equal(t, []notify.Message{{Key: "k1", Subject: "outage", Text: "the task printed [redacted]"}}, rec.sent)
	require.Eventually(t, func() bool { return len(n.Commands(t)) == before+3 }, 20*time.Second, 50*time.Millisecond,
		"Nagios lost commands written to its FIFO")
	require.Equal(t, []string{"ENABLE_HOSTGROUP_SVC_NOTIFICATIONS;compute0", "ENABLE_HOSTGROUP_SVC_NOTIFICATIONS;compute1", "ENABLE_HOSTGROUP_SVC_NOTIFICATIONS;compute2"}, n.Commands(t)[before:])
}
