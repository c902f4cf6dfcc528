// Package monitoring silences monitoring for an outage window: Alertmanager
// silences and Nagios downtimes, or a log line when neither is configured.
//
// Every silence is keyed. The operation key is written into the silence's
// comment as "[osflow:KEY]", so a retry of Silence with the same key finds
// the silences it made (on any worker, after any crash) and returns them
// instead of making more, and Expire(key) ends exactly those. A key names
// one silencing: once expired, Silence with the same key does not silence
// again.
//
// Errors are classified with package failure.
package monitoring

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// Window is the time monitoring stays silenced.
type Window struct {
	Start, End time.Time
}

// Silencer silences the hosts of the configuration.
type Silencer interface {
	// Silence silences the configured targets for w and returns the IDs of
	// the silences, each prefixed by its system ("alertmanager:",
	// "nagios:"). comment says why, for the people reading the
	// monitoring system.
	Silence(ctx context.Context, key string, w Window, comment string) ([]string, error)
	// Expire ends every silence made with key and says which are ended
	// and which remain. Ending none is not an error; a silence that
	// remains is not one either: the caller decides (see Expired).
	Expire(ctx context.Context, key string) (Expired, error)
}

// author is who silences are made by, in every system.
const author = "osflow"

var keyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,199}$`)

// marker is what a silence's comment carries to name its key.
func marker(key string) string { return "[osflow:" + key + "]" }

// hasMarker reports whether comment ends with key's marker.
func hasMarker(comment, key string) bool { return strings.HasSuffix(comment, marker(key)) }

// keyedComment is comment on one line, then key's marker.
func keyedComment(comment, key string) string {
	c := strings.Join(strings.Fields(comment), " ")
	if c == "" {
		c = "osflow outage"
	}
	return c + " " + marker(key)
}

func checkKey(key string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("%w: operation key %q (want letters, digits and ._:/@+=-, at most 200)", failure.ErrInvalid, key)
	}
	return nil
}

// check refuses a window that cannot silence anything.
func (w Window) check(now time.Time) error {
	switch {
	case w.Start.IsZero() || w.End.IsZero():
		return fmt.Errorf("%w: silence window %s – %s: both ends are required", failure.ErrInvalid, w.Start, w.End)
	case !w.End.After(w.Start):
		return fmt.Errorf("%w: silence window ends (%s) before it starts (%s)", failure.ErrInvalid, w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339))
	case !w.End.After(now):
		return fmt.Errorf("%w: silence window ended at %s, in the past", failure.ErrInvalid, w.End.Format(time.RFC3339))
	}
	return nil
}

// New returns the silencer cfg describes: Alertmanager, Nagios, both, or
// None when neither is configured.
func New(cfg config.Monitoring, log *zap.Logger) (Silencer, error) {
	var all Multi
	if cfg.Alertmanager != nil {
		a, err := NewAlertmanager(*cfg.Alertmanager)
		if err != nil {
			return nil, err
		}
		all = append(all, a)
	}
	if cfg.Nagios != nil {
		all = append(all, NewNagios(*cfg.Nagios))
	}
	switch len(all) {
	case 0:
		return NewNone(log), nil
	case 1:
		return all[0], nil
	}
	return all, nil
}

// Multi silences through each of its silencers in turn. Each one is keyed,
// so a retry after one failed redoes nothing the others did.
type Multi []Silencer

// Silence silences through every silencer and returns all their IDs.
func (m Multi) Silence(ctx context.Context, key string, w Window, comment string) ([]string, error) {
	var ids []string
	for _, s := range m {
		got, err := s.Silence(ctx, key, w, comment)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// Expire expires through every silencer, all of them even when one fails.
func (m Multi) Expire(ctx context.Context, key string) (Expired, error) {
	var all Expired
	var errs []error
	for _, s := range m {
		got, err := s.Expire(ctx, key)
		all.add(got)
		errs = append(errs, err)
	}
	return all, errors.Join(errs...)
}

// None only logs: the embedded default, for sites whose monitoring osflow
// does not drive.
type None struct{ log *zap.Logger }

// NewNone returns a silencer that logs to log (nil: nowhere).
func NewNone(log *zap.Logger) *None {
	if log == nil {
		log = zap.NewNop()
	}
	return &None{log: log}
}

// Silence logs what would be silenced and returns no IDs.
func (n *None) Silence(_ context.Context, key string, w Window, comment string) ([]string, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if !w.End.After(w.Start) {
		return nil, w.check(time.Now())
	}
	n.log.Info("monitoring not configured: nothing silenced", zap.String("key", key),
		zap.Time("start", w.Start), zap.Time("end", w.End), zap.String("comment", comment))
	return nil, nil
}

// Expire logs.
func (n *None) Expire(_ context.Context, key string) (Expired, error) {
	if err := checkKey(key); err != nil {
		return Expired{}, err
	}
	n.log.Info("monitoring not configured: nothing to expire", zap.String("key", key))
	return Expired{}, nil
}
