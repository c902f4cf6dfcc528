package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// fakeSlack follows Slack's documented incoming-webhook behaviour
// (api.slack.com/messaging/webhooks#handling_errors): a POST of JSON with
// "text" to a known hook answers 200 "ok"; an unknown hook 404 no_service;
// a body that is not such JSON 400 invalid_payload. respond, when set,
// overrides the answer for the given attempt (from 1).
type fakeSlack struct {
	mu      sync.Mutex
	hook    string // the secret path
	texts   []string
	calls   int
	respond func(attempt int, w http.ResponseWriter) bool
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.respond != nil && f.respond(f.calls, w) {
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if r.URL.Path != f.hook {
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	var p struct {
		Text *string `json:"text"`
	}
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &p) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if p.Text == nil || *p.Text == "" {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	f.texts = append(f.texts, *p.Text)
	_, _ = io.WriteString(w, "ok")
}

func status(code int, body string, h ...string) func(int, http.ResponseWriter) bool {
	return func(_ int, w http.ResponseWriter) bool {
		for i := 0; i+1 < len(h); i += 2 {
			w.Header().Set(h[i], h[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
		return true
	}
}

const secretHook = "/services/T0001/B0001/s3cr3tt0k3n"

func newTestWebhook(t *testing.T, f *fakeSlack) (*Webhook, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("TEST_WEBHOOK_URL", srv.URL+secretHook)
	w := NewWebhook(config.Webhook{URLEnv: "TEST_WEBHOOK_URL", Timeout: config.Duration{Duration: 5 * time.Second}})
	var slept []time.Duration
	w.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	return w, &slept
}

var msg = Message{Key: "promotion-r1/risk", Subject: "Risk report for r1", Text: "3 packages change.\nkernel is a security update."}

func TestWebhookDelivers(t *testing.T) {
	f := &fakeSlack{hook: secretHook}
	w, _ := newTestWebhook(t, f)
	require.NoError(t, w.Send(context.Background(), msg))
	require.Equal(t, []string{"Risk report for r1\n\n3 packages change.\nkernel is a security update."}, f.texts)
}

func TestWebhookErrors(t *testing.T) {
	tests := []struct {
		name    string
		respond func(int, http.ResponseWriter) bool
		hook    string
		class   error // nil: retryable
		want    string
		calls   int
	}{
		{"invalid payload", status(400, "invalid_payload"), "", failure.ErrInvalid, "answered 400: invalid_payload", 1},
		{"user not found", status(400, "user_not_found"), "", failure.ErrInvalid, "user_not_found", 1},
		{"action prohibited", status(403, "action_prohibited"), "", failure.ErrAuth, "answered 403: action_prohibited (the webhook in $TEST_WEBHOOK_URL may not post here)", 1},
		{"revoked hook", nil, "/services/T0001/B0001/other", failure.ErrNotFound, "answered 404: no_service", 1},
		{"archived channel", status(410, "channel_is_archived"), "", failure.ErrNotFound, "answered 410: channel_is_archived", 1},
		{"server error", status(500, "rollup_error"), "", nil, "answered 500: rollup_error", 1},
		{"bad gateway", status(502, ""), "", nil, "answered 502: Bad Gateway", 1},
		{"redirect", status(302, "", "Location", "https://elsewhere.example/"), "", failure.ErrInvalid, "the webhook redirects", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSlack{hook: secretHook, respond: tt.respond}
			if tt.hook != "" {
				f.hook = tt.hook
			}
			w, _ := newTestWebhook(t, f)
			err := w.Send(context.Background(), msg)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "s3cr3t", "the hook's token must not leak into errors")
			if tt.class != nil {
				require.ErrorIs(t, err, tt.class)
				require.False(t, failure.IsRetryable(err))
			} else {
				require.True(t, failure.IsRetryable(err))
			}
			require.Equal(t, tt.calls, f.calls)
			require.Empty(t, f.texts)
		})
	}
}

func TestWebhookRateLimit(t *testing.T) {
	t.Run("retried after Retry-After", func(t *testing.T) {
		f := &fakeSlack{hook: secretHook, respond: func(n int, w http.ResponseWriter) bool {
			if n > 1 {
				return false
			}
			return status(429, "rate_limited", "Retry-After", "2")(n, w)
		}}
		w, slept := newTestWebhook(t, f)
		require.NoError(t, w.Send(context.Background(), msg))
		require.Equal(t, []time.Duration{2 * time.Second}, *slept)
		require.Len(t, f.texts, 1)
	})
	t.Run("still limited after three attempts", func(t *testing.T) {
		f := &fakeSlack{hook: secretHook, respond: status(429, "rate_limited", "Retry-After", "1")}
		w, slept := newTestWebhook(t, f)
		err := w.Send(context.Background(), msg)
		var rl *failure.RateLimitError
		require.ErrorAs(t, err, &rl)
		require.Equal(t, time.Second, rl.RetryAfter)
		require.True(t, failure.IsRetryable(err))
		require.Equal(t, 3, f.calls)
		require.Len(t, *slept, 2)
	})
	t.Run("a long wait is handed back", func(t *testing.T) {
		f := &fakeSlack{hook: secretHook, respond: status(429, "rate_limited", "Retry-After", "300")}
		w, slept := newTestWebhook(t, f)
		d, ok := failure.RetryAfter(w.Send(context.Background(), msg))
		require.True(t, ok)
		require.Equal(t, 5*time.Minute, d)
		require.Equal(t, 1, f.calls)
		require.Empty(t, *slept)
	})
}

func TestWebhookURLIsASecret(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		w := NewWebhook(config.Webhook{URLEnv: "TEST_WEBHOOK_UNSET"})
		t.Setenv("TEST_WEBHOOK_UNSET", "")
		err := w.Send(context.Background(), msg)
		require.ErrorIs(t, err, failure.ErrAuth)
		require.Contains(t, err.Error(), "no URL in $TEST_WEBHOOK_UNSET")
	})
	t.Run("not a URL", func(t *testing.T) {
		t.Setenv("TEST_WEBHOOK_BAD", "hooks.example.org/services/s3cr3t")
		err := NewWebhook(config.Webhook{URLEnv: "TEST_WEBHOOK_BAD"}).Send(context.Background(), msg)
		require.ErrorIs(t, err, failure.ErrInvalid)
		require.NotContains(t, err.Error(), "s3cr3t")
	})
	t.Run("from a file, and unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL + secretHook
		srv.Close() // nothing listens any more
		file := t.TempDir() + "/hook"
		require.NoError(t, writeFile(file, url+"\n"))
		err := NewWebhook(config.Webhook{URLEnv: "UNUSED", URLFile: file}).Send(context.Background(), msg)
		require.Error(t, err)
		require.True(t, failure.IsRetryable(err), "a transport error is retried: %v", err)
		require.NotContains(t, err.Error(), "s3cr3t")
		require.Contains(t, err.Error(), "connection refused")
	})
}

func TestWebhookTruncatesLongText(t *testing.T) {
	f := &fakeSlack{hook: secretHook}
	w, _ := newTestWebhook(t, f)
	long := msg
	long.Text = strings.Repeat("é", 20000)
	require.NoError(t, w.Send(context.Background(), long))
	require.Len(t, []rune(f.texts[0]), maxText+len("\n(truncated)"))
	require.True(t, strings.HasSuffix(f.texts[0], "\n(truncated)"))
}

func TestMessageChecks(t *testing.T) {
	for _, m := range []Message{
		{Subject: "no key"},
		{Key: "k"},
		{Key: "k", Subject: "two\nlines"},
	} {
		err := NewLog(nil).Send(context.Background(), m)
		require.ErrorIs(t, err, failure.ErrInvalid, "%+v", m)
	}
}

// failing is a notifier that fails until told otherwise and counts calls.
type failing struct {
	calls int
	err   error
}

func (f *failing) Send(context.Context, Message) error { f.calls++; return f.err }

func TestMultiDoesNotResendWhatWasDelivered(t *testing.T) {
	ok, bad := &failing{}, &failing{err: &failure.RateLimitError{RetryAfter: time.Minute, Err: errors.New("429")}}
	m := &Multi{}
	m.Add("a", ok)
	m.Add("b", bad)
	err := m.Send(context.Background(), msg)
	d, limited := failure.RetryAfter(err)
	require.True(t, limited, "the rate limit shows through the joined error")
	require.Equal(t, time.Minute, d)
	require.Contains(t, err.Error(), "notify b: ")

	bad.err = nil
	require.NoError(t, m.Send(context.Background(), msg))
	require.Equal(t, 1, ok.calls, "a retry does not send again through the notifier that took the message")
	require.Equal(t, 2, bad.calls)

	other := msg
	other.Key = "promotion-r1/reminder-1"
	require.NoError(t, m.Send(context.Background(), other))
	require.Equal(t, 2, ok.calls)
}

func TestNewSendsEverywhereConfigured(t *testing.T) {
	f := &fakeSlack{hook: secretHook}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("TEST_NEW_WEBHOOK", srv.URL+secretHook)
	cert, caFile := testCert(t)
	t.Setenv("TEST_SMTP_PASSWORD", "pw")
	s := newSMTPServer(t, cert, func(*smtpServer) {})
	smtpCfg := smtpConfig(s, caFile, nil)
	n, err := New(config.Notify{Webhook: &config.Webhook{URLEnv: "TEST_NEW_WEBHOOK"}, SMTP: &smtpCfg}, nil)
	require.NoError(t, err)
	require.NoError(t, n.Send(context.Background(), msg))
	require.Len(t, f.texts, 1)
	require.Len(t, s.mails, 1)

	n, err = New(config.Notify{}, nil)
	require.NoError(t, err)
	require.NoError(t, n.Send(context.Background(), msg), "the log alone")
}
