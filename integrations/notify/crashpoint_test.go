package notify

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

var errCrash = errors.New("crash point reached")

// crashRig is the outside world of one Send: a Slack webhook and an SMTP
// server that outlive the process, and the worker's journal file.
type crashRig struct {
	slack   *fakeSlack
	mail    *smtpServer
	journal string
	// newMulti builds a worker's notifier as the worker does at start.
	newMulti func() *Multi
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	r := &crashRig{slack: &fakeSlack{hook: secretHook}, journal: filepath.Join(t.TempDir(), "notify.journal")}
	w, _ := newTestWebhook(t, r.slack)
	cert, caFile := testCert(t)
	t.Setenv("TEST_SMTP_PASSWORD", "pw")
	r.mail = newSMTPServer(t, cert, func(*smtpServer) {})
	s, err := NewSMTP(smtpConfig(r.mail, caFile, nil))
	require.NoError(t, err)
	r.newMulti = func() *Multi {
		m := &Multi{Journal: r.journal}
		m.Add("log", NewLog(zap.NewNop()))
		m.Add("webhook", w)
		m.Add("smtp", s)
		return m
	}
	return r
}

// sent is what reached each outside channel.
func (r *crashRig) sent() map[string]int {
	r.slack.mu.Lock()
	defer r.slack.mu.Unlock()
	r.mail.mu.Lock()
	defer r.mail.mu.Unlock()
	return map[string]int{"webhook": len(r.slack.texts), "smtp": len(r.mail.mails)}
}

// TestNotifyCrashPoints fails the first Send at each crash point it
// passes, once as an error (the same worker retries) and once as a process
// death (a new worker, its memory gone, retries with the same key), and
// checks that each channel got the message once. The one exception is a
// death between the webhook's acceptance and its journal line: Slack has
// no idempotency key, so the retry posts again (at least once, as the
// package comment says); mail carries the same Message-ID then.
func TestNotifyCrashPoints(t *testing.T) {
	ctx := context.Background()
	var trace []string
	clean := newCrashRig(t)
	m := clean.newMulti()
	m.crash = func(p string) error { trace = append(trace, p); return nil }
	require.NoError(t, m.Send(ctx, msg))
	require.Equal(t, map[string]int{"webhook": 1, "smtp": 1}, clean.sent())
	require.Equal(t, []string{
		"notify/log/sent", "notify/log/recorded",
		"notify/webhook/sent", "notify/webhook/recorded",
		"notify/smtp/sent", "notify/smtp/recorded",
	}, trace)

	for _, point := range trace {
		for _, mode := range []string{"error", "death"} {
			t.Run(point+"/"+mode, func(t *testing.T) {
				r := newCrashRig(t)
				first := r.newMulti()
				first.crash = func(p string) error {
					if p == point {
						return errCrash
					}
					return nil
				}
				require.ErrorIs(t, first.Send(ctx, msg), errCrash)
				retry := first
				if mode == "death" {
					retry = r.newMulti()
				}
				retry.crash = nil
				require.NoError(t, retry.Send(ctx, msg), "the retry")
				require.NoError(t, retry.Send(ctx, msg), "a second retry")
				want := map[string]int{"webhook": 1, "smtp": 1}
				if mode == "death" && point != "notify/log/sent" && point != "notify/log/recorded" {
					if ch := channelOf(point); ch != "log" && point == pointSent(ch) {
						want[ch] = 2
					}
				}
				require.Equal(t, want, r.sent(), "each channel got the message once")
			})
		}
	}
}

func channelOf(point string) string {
	var ch string
	for _, name := range []string{"log", "webhook", "smtp"} {
		if point == pointSent(name) || point == pointRecorded(name) {
			ch = name
		}
	}
	return ch
}

// TestNotifyJournal: a restarted worker reads the deliveries back, a torn
// last line is ignored, and a long journal is compacted to the keys kept.
func TestNotifyJournal(t *testing.T) {
	ctx := context.Background()
	r := newCrashRig(t)
	m := r.newMulti()
	for i := 0; i < 2*multiMemory+10; i++ {
		require.NoError(t, appendJournal(r.journal, fmt.Sprint("old-", i), "webhook"))
	}
	require.NoError(t, appendJournal(r.journal, msg.Key, "webhook"))
	require.NoError(t, appendJournal(r.journal, msg.Key, "smtp"))
	require.NoError(t, writeFileAppend(r.journal, `{"key":"torn","noti`))
	require.NoError(t, m.Send(ctx, msg))
	require.Equal(t, map[string]int{"webhook": 0, "smtp": 0}, r.sent(), "delivered before the restart")
	again := r.newMulti()
	require.NoError(t, again.Send(ctx, Message{Key: "torn", Subject: "s"}))
	require.Equal(t, map[string]int{"webhook": 1, "smtp": 1}, r.sent(), "a torn line is no delivery")
	require.Len(t, again.keys, multiMemory)
}
