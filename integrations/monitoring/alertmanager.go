package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// Alertmanager silences alerts through Alertmanager's v2 API
// (api/v2/openapi.yaml of prometheus/alertmanager): POST /api/v2/silences
// to create, GET /api/v2/silences to find the silences of a key, DELETE
// /api/v2/silence/{id} to expire one. Point it at one peer of an HA
// cluster (or a load balancer): peers share silences by gossip.
type Alertmanager struct {
	cfg    config.Alertmanager
	base   *url.URL
	client *http.Client
	now    func() time.Time
	crash  crashHook // tests only (crashpoint.go)
}

// NewAlertmanager returns a silencer for the Alertmanager at cfg.URL.
func NewAlertmanager(cfg config.Alertmanager) (*Alertmanager, error) {
	base, err := url.Parse(cfg.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%w: alertmanager URL %q: want http(s)://host:port/", failure.ErrInvalid, cfg.URL)
	}
	if len(cfg.Matchers) == 0 {
		return nil, fmt.Errorf("%w: alertmanager: no matchers: a silence needs at least one", failure.ErrInvalid)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	timeout := cfg.Timeout.Duration
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Alertmanager{cfg: cfg, base: base, client: &http.Client{Timeout: timeout}, now: time.Now}, nil
}

// amMatcher and amSilence are the API's matcher and gettableSilence.
type amMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

type amSilence struct {
	ID        string      `json:"id,omitempty"`
	Matchers  []amMatcher `json:"matchers"`
	StartsAt  time.Time   `json:"startsAt"`
	EndsAt    time.Time   `json:"endsAt"`
	CreatedBy string      `json:"createdBy"`
	Comment   string      `json:"comment"`
	Status    *struct {
		State string `json:"state"` // active, pending, expired
	} `json:"status,omitempty"`
}

func (s amSilence) expired() bool { return s.Status != nil && s.Status.State == "expired" }

// Silence creates one silence of the configured matchers for w, unless
// silences with key exist already (in any state), which it returns.
func (a *Alertmanager) Silence(ctx context.Context, key string, w Window, comment string) ([]string, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	existing, err := a.find(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return ids(existing), nil
	}
	if err := w.check(a.now()); err != nil {
		return nil, err
	}
	s := amSilence{StartsAt: w.Start.UTC(), EndsAt: w.End.UTC(), CreatedBy: author, Comment: keyedComment(comment, key)}
	for _, m := range a.cfg.Matchers {
		s.Matchers = append(s.Matchers, amMatcher{Name: m.Name, Value: m.Value, IsRegex: m.Regex, IsEqual: m.Equal})
	}
	body, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("%w: alertmanager silence: %v", failure.ErrInvalid, err)
	}
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	if err := a.do(ctx, http.MethodPost, "api/v2/silences", body, &created); err != nil {
		return nil, fmt.Errorf("create silence %s: %w", key, err)
	}
	if created.SilenceID == "" {
		return nil, fmt.Errorf("create silence %s: alertmanager at %s answered without a silenceID", key, a.base.Host)
	}
	if err := a.crash.reached(atAMCreate); err != nil {
		return nil, err
	}
	return []string{"alertmanager:" + created.SilenceID}, nil
}

// Expire expires every silence of key that has not expired yet, then
// reads them back: what Alertmanager still holds active or pending
// remains.
func (a *Alertmanager) Expire(ctx context.Context, key string) (Expired, error) {
	if err := checkKey(key); err != nil {
		return Expired{}, err
	}
	existing, err := a.find(ctx, key)
	if err != nil {
		return Expired{}, err
	}
	if len(existing) == 0 {
		return Expired{}, nil
	}
	for _, s := range existing {
		if s.expired() {
			continue
		}
		err := a.do(ctx, http.MethodDelete, "api/v2/silence/"+url.PathEscape(s.ID), nil, nil)
		// Alertmanager 0.25 answers 500 "silence not found" for an ID it
		// no longer has (its retention ran out between our GET and DELETE).
		if err != nil && !strings.Contains(err.Error(), "silence not found") {
			return Expired{}, fmt.Errorf("expire silence %s of %s: %w", s.ID, key, err)
		}
		if err := a.crash.reached(atAMExpire); err != nil {
			return Expired{}, err
		}
	}
	after, err := a.find(ctx, key)
	if err != nil {
		return Expired{}, err
	}
	var res Expired
	for _, s := range after {
		id := "alertmanager:" + s.ID
		if s.expired() {
			res.Ended = append(res.Ended, id)
			continue
		}
		res.Remaining = append(res.Remaining, Remaining{ID: id,
			EndByHand: fmt.Sprintf("amtool silence expire --alertmanager.url=%s %s", a.base.Redacted(), s.ID)})
	}
	return res, nil
}

// find lists the silences made with key, oldest first.
func (a *Alertmanager) find(ctx context.Context, key string) ([]amSilence, error) {
	var all []amSilence
	if err := a.do(ctx, http.MethodGet, "api/v2/silences", nil, &all); err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	var mine []amSilence
	for _, s := range all {
		if s.CreatedBy == author && hasMarker(s.Comment, key) {
			mine = append(mine, s)
		}
	}
	return mine, nil
}

func ids(ss []amSilence) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "alertmanager:" + s.ID
	}
	return out
}

// do sends one request and decodes a 200 answer into out (when not nil).
func (a *Alertmanager) do(ctx context.Context, method, path string, body []byte, out any) error {
	u := a.base.ResolveReference(&url.URL{Path: path})
	where := fmt.Sprintf("alertmanager %s %s", method, u.Redacted())
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.cfg.User != "" {
		pw, err := a.cfg.Password()
		if err != nil || pw == "" {
			return fmt.Errorf("%w: alertmanager: no password for %s in %s: %v", failure.ErrAuth, a.cfg.User, a.cfg.SecretName(), err)
		}
		req.SetBasicAuth(a.cfg.User, pw)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		err := fmt.Errorf("%s: answered %s: %s", where, resp.Status, msg)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			err = fmt.Errorf("%w (check monitoring.alertmanager.user and %s)", err, a.cfg.SecretName())
		}
		if resp.StatusCode == http.StatusNotFound && method != http.MethodDelete {
			err = fmt.Errorf("%w (is %s an Alertmanager with the v2 API?)", err, a.base.Redacted())
		}
		return failure.HTTPStatus(resp, a.now(), err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: unreadable answer: %w", where, err)
	}
	return nil
}
