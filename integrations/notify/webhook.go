package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// Webhook posts to a Slack or Mattermost incoming webhook. Both take
// {"text": ...} and answer 200 "ok". Slack documents its refusals as
// status codes with a short reason in the body
// (api.slack.com/messaging/webhooks#handling_errors): 400 invalid_payload
// or user_not_found, 403 action_prohibited or invalid_token, 404
// channel_not_found or no_service, 410 channel_is_archived, 429 with
// Retry-After, 500 rollup_error.
//
// The URL embeds the hook's token, so it is read from the environment or a
// file at each Send and never appears in an error or a log line: errors
// name the host only.
type Webhook struct {
	cfg    config.Webhook
	client *http.Client
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	// maxWait bounds how long Send waits itself on a 429 before handing
	// the delay back as a *failure.RateLimitError.
	maxWait time.Duration
}

const (
	// maxText keeps a message under both Slack's (40,000 characters) and
	// Mattermost's (16,383) limits for one post.
	maxText         = 16000
	webhookAttempts = 3
	maxWebhookWait  = 30 * time.Second
	maxErrorBody    = 512
)

// NewWebhook returns a notifier posting to the webhook cfg names.
func NewWebhook(cfg config.Webhook) *Webhook {
	timeout := cfg.Timeout.Duration
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Webhook{
		cfg: cfg,
		client: &http.Client{
			Timeout: timeout,
			// A webhook that redirects is misconfigured; following it would
			// send the message somewhere nobody configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:     time.Now,
		sleep:   failure.Sleep,
		maxWait: maxWebhookWait,
	}
}

// Send posts the message. A 429 is retried after the Retry-After the
// server gave, up to three attempts and when the wait is short; otherwise
// the delay is returned in a *failure.RateLimitError.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	raw, err := w.cfg.URL()
	if err != nil || raw == "" {
		return fmt.Errorf("%w: webhook: no URL in %s: %v", failure.ErrAuth, w.cfg.SecretName(), err)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Never echo raw: it is the secret.
		return fmt.Errorf("%w: webhook: the value of %s is not an http(s) URL", failure.ErrInvalid, w.cfg.SecretName())
	}
	body, err := json.Marshal(map[string]string{"text": webhookText(m)})
	if err != nil {
		return fmt.Errorf("%w: webhook: %v", failure.ErrInvalid, err)
	}
	for attempt := 1; ; attempt++ {
		err := w.post(ctx, u, body)
		wait, limited := failure.RetryAfter(err)
		if !limited || attempt == webhookAttempts || wait > w.maxWait {
			return err
		}
		if err := w.sleep(ctx, wait); err != nil {
			return fmt.Errorf("webhook at %s: waiting %s after a rate limit: %w", u.Host, wait, err)
		}
	}
}

func webhookText(m Message) string {
	text := m.Subject
	if t := strings.TrimSpace(m.Text); t != "" {
		text += "\n\n" + t
	}
	if r := []rune(text); len(r) > maxText {
		text = string(r[:maxText]) + "\n(truncated)"
	}
	return text
}

func (w *Webhook) post(ctx context.Context, u *url.URL, body []byte) error {
	where := fmt.Sprintf("webhook at %s", u.Host)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", where, redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "osflow-notify/1")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", where, redact(err))
	}
	defer resp.Body.Close()
	reason, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := strings.TrimSpace(string(reason))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	err = fmt.Errorf("%s answered %d: %s", where, resp.StatusCode, msg)
	switch code := resp.StatusCode; {
	case code >= 300 && code < 400:
		return fmt.Errorf("%w: %w (the webhook redirects: configure its final URL in %s)", failure.ErrInvalid, err, w.cfg.SecretName())
	case code == http.StatusBadRequest:
		return fmt.Errorf("%w: %w (the server refused the message)", failure.ErrInvalid, err)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: %w (the webhook in %s may not post here)", failure.ErrAuth, err, w.cfg.SecretName())
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%w: %w (the webhook in %s or its channel no longer exists)", failure.ErrNotFound, err, w.cfg.SecretName())
	}
	return failure.HTTPStatus(resp, w.now(), err)
}

// redact drops the URL from a transport error: it holds the hook's token.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
