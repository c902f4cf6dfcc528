// Package notify tells people what osflow does: the risk report, approval
// reminders, the outcome of an outage. Every message is logged; a Slack or
// Mattermost webhook and SMTP mail are added by the configuration.
//
// Delivery is at least once. Message.Key names one notification: a Multi
// does not resend to a channel that already took the key, across worker
// restarts when it keeps a journal (see NewJournaled), and mail carries a
// Message-ID derived from it, so a retried send that did reach the server
// is shown once by mail clients that de-duplicate by Message-ID. The one
// window left is a process death between a channel's acceptance and the
// journal line: the retry sends that channel the message again.
//
// Errors are classified with package failure.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// Message is one notification.
type Message struct {
	// Key is the operation key: the same key is the same notification.
	Key     string
	Subject string // one line
	Text    string // plain text, may span lines
}

// Notifier sends messages.
type Notifier interface {
	Send(ctx context.Context, m Message) error
}

// check refuses a message that cannot be sent anywhere.
func (m Message) check() error {
	switch {
	case strings.TrimSpace(m.Key) == "":
		return fmt.Errorf("%w: message %q has no operation key", failure.ErrInvalid, m.Subject)
	case strings.TrimSpace(m.Subject) == "":
		return fmt.Errorf("%w: message %s has no subject", failure.ErrInvalid, m.Key)
	case strings.ContainsAny(m.Subject, "\r\n"):
		return fmt.Errorf("%w: the subject of message %s spans lines", failure.ErrInvalid, m.Key)
	}
	return nil
}

// New returns the notifier cfg describes: the log, plus the webhook and
// SMTP when they are configured. Secrets are read at each Send, so a
// rotated one is picked up without a restart.
func New(cfg config.Notify, log *zap.Logger) (Notifier, error) {
	return NewJournaled(cfg, "", log)
}

// NewJournaled is New with the deliveries recorded in the file journal
// (none if ""), so that a restarted worker does not resend a message a
// channel already took.
func NewJournaled(cfg config.Notify, journal string, log *zap.Logger) (Notifier, error) {
	m := &Multi{Journal: journal}
	m.Add("log", NewLog(log))
	if cfg.Webhook != nil {
		m.Add("webhook", NewWebhook(*cfg.Webhook))
	}
	if cfg.SMTP != nil {
		s, err := NewSMTP(*cfg.SMTP)
		if err != nil {
			return nil, err
		}
		m.Add("smtp", s)
	}
	return m, nil
}

// Multi sends each message to every notifier added. It remembers, for the
// most recent keys, which notifiers took a message, so that a retry after
// one of them failed does not send the message again through the others.
type Multi struct {
	// Journal, when set, is the file the deliveries are appended to and
	// remembered from after a restart.
	Journal string

	names []string
	ns    []Notifier
	// crash, set by tests only, is called after each durable step (see
	// crashpoint.go); an error it returns fails Send there.
	crash func(point string) error

	mu     sync.Mutex
	sent   map[string]map[string]bool // key -> notifier name -> delivered
	keys   []string                   // in the order first seen, to forget the oldest
	loaded bool                       // the journal has been read
}

// multiMemory is how many keys a Multi remembers.
const multiMemory = 1024

// Add appends notifier n, called name in errors.
func (m *Multi) Add(name string, n Notifier) {
	m.names = append(m.names, name)
	m.ns = append(m.ns, n)
}

// Send sends msg to every notifier that has not taken its key yet, and
// returns their errors joined, each prefixed by the notifier's name. The
// joined error keeps each one's class: errors.Is and errors.As see through
// it, and failure.IsRetryable is false if any failure was permanent.
func (m *Multi) Send(ctx context.Context, msg Message) error {
	if err := msg.check(); err != nil {
		return err
	}
	if err := m.load(); err != nil {
		return err
	}
	var errs []error
	for i, n := range m.ns {
		if m.delivered(msg.Key, m.names[i]) {
			continue
		}
		if err := n.Send(ctx, msg); err != nil {
			errs = append(errs, fmt.Errorf("notify %s: %w", m.names[i], err))
			continue
		}
		m.note(msg.Key, m.names[i])
		if err := m.reached(pointSent(m.names[i])); err != nil {
			return err
		}
		if err := m.journal(msg.Key, m.names[i]); err != nil {
			// Sent but not recorded: a retry may send it again, which
			// at-least-once allows; failing here would only hide that the
			// message went out.
			errs = append(errs, fmt.Errorf("notify %s: sent, but %w", m.names[i], err))
		}
		if err := m.reached(pointRecorded(m.names[i])); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func (m *Multi) delivered(key, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent[key][name]
}

// note remembers the delivery in this process.
func (m *Multi) note(key, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remember(key, name)
}

// journal records the delivery for a restarted worker, when there is a
// journal.
func (m *Multi) journal(key, name string) error {
	if m.Journal == "" {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return appendJournal(m.Journal, key, name)
}

// remember notes the delivery in memory; m.mu is held.
func (m *Multi) remember(key, name string) {
	if m.sent == nil {
		m.sent = map[string]map[string]bool{}
	}
	if m.sent[key] == nil {
		if len(m.keys) == multiMemory {
			delete(m.sent, m.keys[0])
			m.keys = m.keys[1:]
		}
		m.keys = append(m.keys, key)
		m.sent[key] = map[string]bool{}
	}
	m.sent[key][name] = true
}

// Log writes messages to the process log: the embedded default.
type Log struct{ log *zap.Logger }

// NewLog returns a notifier that logs to log (nil: nowhere).
func NewLog(log *zap.Logger) *Log {
	if log == nil {
		log = zap.NewNop()
	}
	return &Log{log: log}
}

// Send logs the message at info level.
func (l *Log) Send(_ context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	l.log.Info("notification", zap.String("key", m.Key), zap.String("subject", m.Subject), zap.String("text", m.Text))
	return nil
}
