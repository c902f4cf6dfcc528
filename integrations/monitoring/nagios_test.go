package monitoring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
	"github.com/osflow/osflow/integrations/monitoring/nagiostest"
)

func silencer(r nagiostest.Run, groups ...string) *Nagios {
	n := NewNagios(config.Nagios{CommandFile: r.CmdFile, StatusFile: r.StatusFile, Hostgroups: groups,
		Author: "osflow", ConfirmTimeout: config.Duration{Duration: 20 * time.Second}})
	n.poll = 50 * time.Millisecond
	return n
}

// countIDs counts the host and the service downtimes among ids.
func countIDs(ids []string) (hosts, services int) {
	for _, id := range ids {
		if strings.HasPrefix(id, "nagios:service:") {
			services++
		} else {
			hosts++
		}
	}
	return hosts, services
}

func TestNagiosDowntime(t *testing.T) {
	r := nagiostest.Start(t)
	n := silencer(r, "compute", "login")
	n.cfg.Services = new(false)
	ctx := context.Background()
	start := time.Now().Truncate(time.Second)
	w := Window{Start: start, End: start.Add(3 * time.Hour)}

	// login1 has no service: hosts only here; services in the next test.
	ids, err := n.Silence(ctx, "promotion-r1/silence", w, "outage of r1; approved by alice")
	require.NoError(t, err)
	require.Len(t, ids, 3) // node1, node2, login1
	for _, id := range ids {
		require.Regexp(t, `^nagios:host:\d+$`, id)
	}
	st, err := readStatus(r.StatusFile)
	require.NoError(t, err)
	hosts := map[string]string{}
	for _, d := range st.of("promotion-r1/silence", "") {
		hosts[d.Host] = d.Comment
	}
	require.Equal(t, map[string]string{
		"node1":  "outage of r1, approved by alice (host group compute, hosts) [osflow:promotion-r1/silence]",
		"node2":  "outage of r1, approved by alice (host group compute, hosts) [osflow:promotion-r1/silence]",
		"login1": "outage of r1, approved by alice (host group login, hosts) [osflow:promotion-r1/silence]",
	}, hosts)

	// The exact lines, as Nagios logged receiving them.
	want := fmt.Sprintf("SCHEDULE_HOSTGROUP_HOST_DOWNTIME;compute;%d;%d;1;0;10800;osflow;outage of r1, approved by alice (host group compute, hosts) [osflow:promotion-r1/silence]",
		w.Start.Unix(), w.End.Unix())
	require.Contains(t, r.Commands(t), want)

	// A retry finds them and writes nothing.
	before := len(r.Commands(t))
	again, err := n.Silence(ctx, "promotion-r1/silence", w, "outage of r1")
	require.NoError(t, err)
	require.ElementsMatch(t, ids, again)
	require.Len(t, r.Commands(t), before)

	ended, err := n.Expire(ctx, "promotion-r1/silence")
	require.NoError(t, err)
	require.ElementsMatch(t, ids, ended.Ended)
	require.Empty(t, ended.Remaining)
	st, err = readStatus(r.StatusFile)
	require.NoError(t, err)
	require.Empty(t, st.of("promotion-r1/silence", ""))
	require.Contains(t, r.Commands(t), "DEL_DOWNTIME_BY_HOSTGROUP_NAME;compute;;;;outage of r1, approved by alice (host group compute, hosts) [osflow:promotion-r1/silence]")
	before = len(r.Commands(t))
	again2, err := n.Expire(ctx, "promotion-r1/silence")
	require.NoError(t, err, "expire is idempotent")
	require.Equal(t, Expired{}, again2)
	require.Len(t, r.Commands(t), before, "nothing left to expire, nothing written")
}

func TestNagiosServicesAndResume(t *testing.T) {
	r := nagiostest.Start(t)
	n := silencer(r, "compute")
	ctx := context.Background()
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	w := Window{Start: start, End: start.Add(time.Hour)}

	// An earlier attempt got as far as the host downtime, then died.
	hostsOnly := silencer(r, "compute")
	hostsOnly.cfg.Services = new(false)
	_, err := hostsOnly.Silence(ctx, "k1", w, "outage")
	require.NoError(t, err)
	before := len(r.Commands(t))

	ids, err := n.Silence(ctx, "k1", w, "outage")
	require.NoError(t, err)
	cmds := r.Commands(t)[before:]
	require.Len(t, cmds, 1, "only the missing command is written: %v", cmds)
	require.True(t, strings.HasPrefix(cmds[0], "SCHEDULE_HOSTGROUP_SVC_DOWNTIME;compute;"), cmds[0])
	hosts, services := countIDs(ids)
	require.Equal(t, [2]int{2, 2}, [2]int{hosts, services})

	// A host that left the group keeps its downtime under
	// DEL_DOWNTIME_BY_HOSTGROUP_NAME; Expire deletes it by ID.
	require.NoError(t, n.write(ctx, []string{fmt.Sprintf("SCHEDULE_HOST_DOWNTIME;login1;%d;%d;1;0;3600;osflow;outage (host group compute, hosts) [osflow:k1]", w.Start.Unix(), w.End.Unix())}))
	require.Eventually(t, func() bool {
		st, err := readStatus(r.StatusFile)
		return err == nil && len(st.of("k1", "")) == 5
	}, 20*time.Second, 50*time.Millisecond)
	ended, err := n.Expire(ctx, "k1")
	require.NoError(t, err)
	require.Len(t, ended.Ended, 5, "the host that left the group included")
	require.Empty(t, ended.Remaining)
	st, err := readStatus(r.StatusFile)
	require.NoError(t, err)
	require.Empty(t, st.of("k1", ""))
	require.Regexp(t, `^DEL_HOST_DOWNTIME;\d+$`, r.Commands(t)[len(r.Commands(t))-1])
}

// Issue 16 #11: a host group whose hosts have no service (login) failed
// the silence step, retried 20 times, because no service downtime ever
// showed; and services were one setting for all groups.
func TestNagiosServicesPerHostgroup(t *testing.T) {
	r := nagiostest.Start(t)
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	w := Window{Start: start, End: start.Add(time.Hour)}
	for _, tt := range []struct {
		name, key      string
		groupServices  map[string]bool
		hosts, svcs    int
		svcCommandsFor []string
	}{
		{"services by default, login has none", "k1", nil, 3, 2, []string{"compute", "login"}},
		{"no services for compute", "k2", map[string]bool{"compute": false}, 3, 0, []string{"login"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := silencer(r, "compute", "login")
			n.cfg.GroupServices = tt.groupServices
			key := tt.key
			before := len(r.Commands(t))
			ids, err := n.Silence(t.Context(), key, w, "outage")
			require.NoError(t, err)
			hosts, services := countIDs(ids)
			require.Equal(t, [2]int{tt.hosts, tt.svcs}, [2]int{hosts, services})
			var svcFor []string
			for _, c := range r.Commands(t)[before:] {
				if f := strings.Split(c, ";"); f[0] == "SCHEDULE_HOSTGROUP_SVC_DOWNTIME" {
					svcFor = append(svcFor, f[1])
				}
			}
			require.Equal(t, tt.svcCommandsFor, svcFor)

			// A retry finds everything done and writes nothing.
			before = len(r.Commands(t))
			again, err := n.Silence(t.Context(), key, w, "outage")
			require.NoError(t, err)
			require.ElementsMatch(t, ids, again)
			require.Len(t, r.Commands(t), before)
			_, err = n.Expire(t.Context(), key)
			require.NoError(t, err)
		})
	}
}

// Issue 16 #11: "6 silences ended" was reported while 5 downtimes
// remained. Expire says what it ended and what Nagios still shows: here a
// Nagios that holds its command FIFO open but acts on nothing (stopped)
// until ConfirmTimeout; once it runs again, the next Expire finds them
// gone.
func TestNagiosExpireReportsWhatRemains(t *testing.T) {
	r := nagiostest.Start(t)
	n := silencer(r, "compute", "login")
	ctx := context.Background()
	start := time.Now().Truncate(time.Second)
	ids, err := n.Silence(ctx, "k", Window{Start: start, End: start.Add(time.Hour)}, "outage")
	require.NoError(t, err)
	require.Len(t, ids, 5) // 3 hosts, 2 services

	require.NoError(t, r.Process.Signal(syscall.SIGSTOP))
	n.cfg.ConfirmTimeout.Duration = 2 * time.Second
	got, err := n.Expire(ctx, "k")
	require.NoError(t, err, "a downtime that remains is the caller's to report")
	require.Empty(t, got.Ended)
	require.ElementsMatch(t, ids, got.RemainingIDs())
	for _, rem := range got.Remaining {
		require.Regexp(t, `^printf '\[%s\] DEL_(HOST|SVC)_DOWNTIME;\d+\\n' "\$\(date \+%s\)" > `+regexp.QuoteMeta(r.CmdFile)+`$`, rem.EndByHand)
	}
	require.Contains(t, got.Summary(ids), "0 of 5 silences ended; 5 remain: nagios:")

	require.NoError(t, r.Process.Signal(syscall.SIGCONT))
	n.cfg.ConfirmTimeout.Duration = 20 * time.Second
	require.Eventually(t, func() bool {
		got, err = n.Expire(ctx, "k")
		return err == nil && len(got.Remaining) == 0
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, "5 of 5 silences ended", got.Summary(ids))
	st, err := readStatus(r.StatusFile)
	require.NoError(t, err)
	require.Empty(t, st.of("k", ""))
}

func TestNagiosUnknownHostgroup(t *testing.T) {
	r := nagiostest.Start(t)
	n := silencer(r, "nosuchgroup")
	// The downtimes never show, so the test waits all of it; but the two
	// status writes before the commands (about 2 s) must fit in it on a
	// loaded machine.
	n.cfg.ConfirmTimeout.Duration = 8 * time.Second
	_, err := n.Silence(context.Background(), "k", Window{Start: time.Now(), End: time.Now().Add(time.Hour)}, "x")
	require.Error(t, err)
	require.Contains(t, err.Error(), "(host group nosuchgroup, hosts), (host group nosuchgroup, services) not in")
	require.Contains(t, err.Error(), "does the host group exist")
}

func TestNagiosCommandFileProblems(t *testing.T) {
	dir := t.TempDir()
	status := filepath.Join(dir, "status.dat")
	require.NoError(t, os.WriteFile(status, []byte("info {\n\tcreated=1\n\t}\n"), 0o644))
	fifo := filepath.Join(dir, "nagios.cmd")
	require.NoError(t, syscall.Mkfifo(fifo, 0o660))
	regular := filepath.Join(dir, "regular")
	require.NoError(t, os.WriteFile(regular, nil, 0o644))
	w := Window{Start: time.Now(), End: time.Now().Add(time.Hour)}
	tests := []struct {
		name, cmdFile, statusFile string
		class                     error
		want                      string
	}{
		{"nagios stopped: no FIFO", filepath.Join(dir, "missing.cmd"), status, nil, "does not exist: is Nagios running"},
		{"nagios stopped: FIFO without reader", fifo, status, nil, "no process reads it: is Nagios running?"},
		{"not a FIFO", regular, status, failure.ErrInvalid, "is not a FIFO"},
		{"no status file", fifo, filepath.Join(dir, "none.dat"), nil, "status file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNagios(config.Nagios{CommandFile: tt.cmdFile, StatusFile: tt.statusFile, Hostgroups: []string{"compute"}})
			_, err := n.Silence(context.Background(), "k", w, "x")
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			if tt.class != nil {
				require.ErrorIs(t, err, tt.class)
			} else {
				require.True(t, failure.IsRetryable(err), "%v", err)
			}
		})
	}
	b, err := os.ReadFile(regular)
	require.NoError(t, err)
	require.Empty(t, b, "nothing is appended to a regular file")
}

func TestParseStatus(t *testing.T) {
	st, err := parseStatus(strings.NewReader("info {\n\tcreated=1796161719\n\tversion=4.4.6\n\t}\n\nhostdowntime {\n\thost_name=node1\n\tdowntime_id=7\n\tcomment=a=b [osflow:k]\n\t}\nservicedowntime {\n\thost_name=node1\n\tservice_description=ssh\n\tdowntime_id=8\n\tcomment=c [osflow:k]\n\t}\n"))
	require.NoError(t, err)
	require.Equal(t, int64(1796161719), st.created)
	require.Equal(t, []downtime{{ID: 7, Host: "node1", Comment: "a=b [osflow:k]"}, {Service: true, ID: 8, Host: "node1", Comment: "c [osflow:k]"}}, st.downtimes)
	for _, bad := range []string{"hostdowntime {\n\tdowntime_id=x\n\t}\n", "info {\n\tcreated=1\n", "stray\n", "info {\n\tnot a pair\n\t}\n"} {
		_, err := parseStatus(strings.NewReader(bad))
		require.Error(t, err, bad)
	}
}
