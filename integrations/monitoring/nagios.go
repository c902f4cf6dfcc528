package monitoring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
)

// Nagios schedules downtime through Nagios's external command file
// (docs: "External Commands", command_file in nagios.cfg), and reads
// status_file to see what Nagios did: the command file is a FIFO with no
// answer, so the status file is the only proof that a command took effect.
//
// For each configured host group it writes
//
//	[now] SCHEDULE_HOSTGROUP_HOST_DOWNTIME;group;start;end;1;0;duration;osflow;comment
//	[now] SCHEDULE_HOSTGROUP_SVC_DOWNTIME;group;start;end;1;0;duration;osflow;comment
//
// (fixed downtime, not triggered), each comment naming the host group and
// ending with the key's marker, and waits until the status file shows them.
// Expire writes DEL_DOWNTIME_BY_HOSTGROUP_NAME;group;;;;comment with the
// exact comment, and deletes by ID what that missed (a host that left the
// group since).
//
// The command file is opened with O_NONBLOCK, so a Nagios that is not
// running is an error instead of a hang, and each line is written with one
// write(2) of at most PIPE_BUF bytes, which POSIX makes atomic: lines of
// concurrent writers never interleave.
type Nagios struct {
	cfg   config.Nagios
	now   func() time.Time
	poll  time.Duration
	crash crashHook // tests only (crashpoint.go)
}

// pipeBuf is PIPE_BUF on Linux: the largest atomic write to a FIFO.
const pipeBuf = 4096

// NewNagios returns a silencer writing to cfg.CommandFile.
func NewNagios(cfg config.Nagios) *Nagios {
	if cfg.ConfirmTimeout.Duration <= 0 {
		cfg.ConfirmTimeout.Duration = 2 * time.Minute
	}
	if cfg.Author == "" {
		cfg.Author = author
	}
	return &Nagios{cfg: cfg, now: time.Now, poll: 500 * time.Millisecond}
}

// downtime is one hostdowntime or servicedowntime block of status.dat.
type downtime struct {
	Service bool
	ID      int
	Host    string
	Comment string
}

func (d downtime) id() string {
	kind := "host"
	if d.Service {
		kind = "service"
	}
	return "nagios:" + kind + ":" + strconv.Itoa(d.ID)
}

// scope is what one command covers, written into its comment so that a
// retry can tell which commands took effect.
func scope(group string, services bool) string {
	if services {
		return "(host group " + group + ", services)"
	}
	return "(host group " + group + ", hosts)"
}

// Silence schedules the downtimes of key that the status file does not
// show yet, waits until it shows them all, and returns their IDs.
func (n *Nagios) Silence(ctx context.Context, key string, w Window, comment string) ([]string, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	st, err := readStatus(n.cfg.StatusFile)
	if err != nil {
		return nil, err
	}
	type command struct {
		group, scope, line string
		services           bool
	}
	plan := func(st *status) []command {
		var todo []command
		for _, g := range n.cfg.Hostgroups {
			for _, svc := range n.kinds(g) {
				sc := scope(g, svc)
				if len(st.of(key, sc)) > 0 {
					continue // done by an earlier attempt
				}
				if hosts := st.of(key, scope(g, false)); svc && len(hosts) > 0 && !st.servicesOn(hosts) {
					continue // the group's hosts have no service to silence
				}
				verb := "SCHEDULE_HOSTGROUP_HOST_DOWNTIME"
				if svc {
					verb = "SCHEDULE_HOSTGROUP_SVC_DOWNTIME"
				}
				todo = append(todo, command{group: g, scope: sc, services: svc})
				todo[len(todo)-1].line = strings.Join([]string{verb, g,
					strconv.FormatInt(w.Start.Unix(), 10), strconv.FormatInt(w.End.Unix(), 10), "1", "0",
					strconv.FormatInt(int64(w.End.Sub(w.Start)/time.Second), 10),
					clean(n.cfg.Author), clean(keyedComment(comment+" "+sc, key))}, ";")
			}
		}
		return todo
	}
	todo := plan(st)
	if len(todo) > 0 {
		if err := w.check(n.now()); err != nil {
			return nil, err
		}
		// Writing nothing opens the FIFO: a stopped Nagios or a wrong
		// path fails now, not after the wait.
		if err := n.write(ctx, nil); err != nil {
			return nil, err
		}
		// Commands an earlier attempt wrote just before it died may not
		// show in status.dat yet (Nagios writes it every
		// status_update_interval): two writes after the one read, they
		// have been handled and show, and are not scheduled twice.
		if st, err = n.await(ctx, st.created, 2, func(*status, int) bool { return false }); err != nil {
			return nil, fmt.Errorf("nagios downtime %s: %s not rewritten: %w", key, n.cfg.StatusFile, err)
		}
		todo = plan(st)
	}
	if len(todo) > 0 {
		if err := w.check(n.now()); err != nil {
			return nil, err
		}
		lines := make([]string, len(todo))
		for i, c := range todo {
			lines[i] = c.line
		}
		if err := n.write(ctx, lines); err != nil {
			return nil, err
		}
		if err := n.crash.reached(atNagiosWritten); err != nil {
			return nil, err
		}
		// A group whose hosts have no service gets no service downtime:
		// once Nagios has written the status twice after our commands
		// (it has handled them), its hosts' downtimes are enough.
		handled := func(st *status, c command, versions int) bool {
			if len(st.of(key, c.scope)) > 0 {
				return true
			}
			hosts := st.of(key, scope(c.group, false))
			return c.services && versions >= 2 && len(hosts) > 0 && !st.servicesOn(hosts)
		}
		st, err = n.await(ctx, st.created, 0, func(st *status, versions int) bool {
			for _, c := range todo {
				if !handled(st, c, versions) {
					return false
				}
			}
			return true
		})
		if err != nil {
			var missing []string
			for _, c := range todo {
				if st == nil || len(st.of(key, c.scope)) == 0 {
					missing = append(missing, c.scope)
				}
			}
			return nil, fmt.Errorf("nagios downtime %s: %s not in %s: %w (does the host group exist and have hosts? see nagios.log)",
				key, strings.Join(missing, ", "), n.cfg.StatusFile, err)
		}
	}
	var ids []string
	for _, d := range st.downtimes {
		if hasMarker(d.Comment, key) {
			ids = append(ids, d.id())
		}
	}
	return ids, nil
}

func (n *Nagios) kinds(group string) []bool {
	if n.cfg.SilencesServicesOf(group) {
		return []bool{false, true}
	}
	return []bool{false}
}

// clean makes s fit in one field of an external command.
func clean(s string) string {
	return strings.NewReplacer(";", ",", "\n", " ", "\r", " ").Replace(s)
}

// Expire deletes every downtime of key and waits until the status file no
// longer shows any; what it still shows after ConfirmTimeout remains.
func (n *Nagios) Expire(ctx context.Context, key string) (Expired, error) {
	if err := checkKey(key); err != nil {
		return Expired{}, err
	}
	st, err := readStatus(n.cfg.StatusFile)
	if err != nil {
		return Expired{}, err
	}
	mine := st.of(key, "")
	if len(mine) == 0 {
		return Expired{}, nil
	}
	// One command per host group and comment; the host group is in the
	// comment, so a group since removed from the config is still covered.
	seen := map[string]bool{}
	var lines []string
	for _, d := range mine {
		group, ok := groupOf(d.Comment)
		if !ok || seen[d.Comment] {
			continue
		}
		seen[d.Comment] = true
		lines = append(lines, "DEL_DOWNTIME_BY_HOSTGROUP_NAME;"+group+";;;;"+d.Comment)
	}
	gone := func(st *status, _ int) bool { return len(st.of(key, "")) == 0 }
	if err := n.write(ctx, lines); err != nil {
		return Expired{}, err
	}
	if err := n.crash.reached(atNagiosDeleted); err != nil {
		return Expired{}, err
	}
	// Two status writes after ours: Nagios has handled the commands by
	// then, and what is left was not in the groups.
	last, err := n.await(ctx, st.created, 2, gone)
	if err != nil || gone(last, 0) {
		return n.expired(ctx, key, mine, st, last)
	}
	// What is left belongs to hosts no longer in the group: by ID.
	lines = lines[:0]
	for _, d := range last.of(key, "") {
		if d.Service {
			lines = append(lines, "DEL_SVC_DOWNTIME;"+strconv.Itoa(d.ID))
		} else {
			lines = append(lines, "DEL_HOST_DOWNTIME;"+strconv.Itoa(d.ID))
		}
	}
	if err := n.write(ctx, lines); err != nil {
		return Expired{}, err
	}
	if err := n.crash.reached(atNagiosDeleted); err != nil {
		return Expired{}, err
	}
	after, _ := n.await(ctx, last.created, 0, gone)
	return n.expired(ctx, key, mine, last, after)
}

// expired says which of the downtimes of key found at first (mine) the
// last status read still shows (before is the one read earlier, for when
// Nagios wrote none since). A Nagios that did not show them gone within
// ConfirmTimeout (stopped, or still busy) leaves them remaining; only the
// caller's end is an error.
func (n *Nagios) expired(ctx context.Context, key string, mine []downtime, before, last *status) (Expired, error) {
	if ctx.Err() != nil {
		return Expired{}, fmt.Errorf("nagios: expire downtime %s: %w", key, ctx.Err())
	}
	if last == nil {
		last = before
	}
	var res Expired
	left := map[string]bool{}
	for _, d := range last.of(key, "") {
		left[d.id()] = true
		verb := "DEL_HOST_DOWNTIME"
		if d.Service {
			verb = "DEL_SVC_DOWNTIME"
		}
		res.Remaining = append(res.Remaining, Remaining{ID: d.id(),
			EndByHand: fmt.Sprintf("printf '[%%s] %s;%d\\n' \"$(date +%%s)\" > %s", verb, d.ID, n.cfg.CommandFile)})
	}
	for _, d := range mine {
		if !left[d.id()] {
			res.Ended = append(res.Ended, d.id())
		}
	}
	return res, nil
}

// groupOf reads the host group back from a comment written by Silence.
func groupOf(comment string) (string, bool) {
	i := strings.LastIndex(comment, "(host group ")
	if i < 0 {
		return "", false
	}
	rest := comment[i+len("(host group "):]
	j := strings.Index(rest, ", ")
	if j <= 0 {
		return "", false
	}
	return rest[:j], true
}

// write writes each line, prefixed with the time, in one write(2).
func (n *Nagios) write(ctx context.Context, lines []string) error {
	path := n.cfg.CommandFile
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("nagios command file %s does not exist: is Nagios running with check_external_commands=1?", path)
	case err != nil:
		return fmt.Errorf("nagios command file: %w", err)
	case fi.Mode()&os.ModeNamedPipe == 0:
		return fmt.Errorf("%w: nagios command file %s is not a FIFO (monitoring.nagios.commandFile is Nagios's command_file)", failure.ErrInvalid, path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("nagios command file %s: no process reads it: is Nagios running?", path)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: nagios command file %s: %w (osflow's user must be in the group that may write it)", failure.ErrAuth, path, err)
	case err != nil:
		return fmt.Errorf("nagios command file: %w", err)
	}
	defer f.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = n.now().Add(n.cfg.ConfirmTimeout.Duration)
	}
	// A full pipe makes a write wait (Nagios reads it in turn); never
	// beyond the deadline.
	_ = f.SetWriteDeadline(deadline)
	for _, l := range lines {
		line := fmt.Sprintf("[%d] %s\n", n.now().Unix(), l)
		if len(line) > pipeBuf {
			return fmt.Errorf("%w: nagios command of %d bytes is longer than PIPE_BUF (%d) and could interleave: shorten the comment", failure.ErrInvalid, len(line), pipeBuf)
		}
		if _, err := f.Write([]byte(line)); err != nil {
			return fmt.Errorf("nagios command file %s: %w", path, err)
		}
	}
	return nil
}

// await polls the status file until done holds for a version written after
// the one created at since (done is told how many such versions were
// seen), or (when writes > 0) until that many versions were written after
// it, or until the context or ConfirmTimeout ends. It returns the last
// status read.
func (n *Nagios) await(ctx context.Context, since int64, writes int, done func(*status, int) bool) (*status, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ConfirmTimeout.Duration)
	defer cancel()
	t := time.NewTicker(n.poll)
	defer t.Stop()
	var last *status
	seen := map[int64]bool{}
	for {
		st, err := readStatus(n.cfg.StatusFile)
		if err == nil && st.created > since {
			last = st
			seen[st.created] = true
			if done(st, len(seen)) || writes > 0 && len(seen) >= writes {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return last, fmt.Errorf("%w (last read: %w)", ctx.Err(), err)
			}
			return last, fmt.Errorf("not shown within %s: %w", n.cfg.ConfirmTimeout.Duration, ctx.Err())
		case <-t.C:
		}
	}
}
