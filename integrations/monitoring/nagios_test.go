package monitoring

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
	"github.com/osflow/osflow/internal/testtool"
)

// nagiosObjects: two compute nodes with one service each, one login node
// with none, and the groups holding them. No check ever runs.
const nagiosObjects = `
define timeperiod {
  timeperiod_name always
  alias always
  monday 00:00-24:00
  tuesday 00:00-24:00
  wednesday 00:00-24:00
  thursday 00:00-24:00
  friday 00:00-24:00
  saturday 00:00-24:00
  sunday 00:00-24:00
}
define command {
  command_name ok
  command_line /bin/true
}
define contact {
  contact_name nobody
  host_notifications_enabled 0
  service_notifications_enabled 0
  host_notification_period always
  service_notification_period always
  host_notification_options n
  service_notification_options n
  host_notification_commands ok
  service_notification_commands ok
}
define host {
  name node
  register 0
  address 127.0.0.1
  check_command ok
  max_check_attempts 1
  check_period always
  notification_period always
  contacts nobody
  active_checks_enabled 0
}
define host {
  use node
  host_name node1
}
define host {
  use node
  host_name node2
}
define host {
  use node
  host_name login1
}
define hostgroup {
  hostgroup_name compute
  members node1,node2
}
define hostgroup {
  hostgroup_name login
  members login1
}
define service {
  host_name node1,node2
  service_description slurmd
  check_command ok
  max_check_attempts 1
  check_interval 5
  retry_interval 1
  check_period always
  notification_period always
  contacts nobody
  active_checks_enabled 0
}
`

type nagiosRun struct {
	dir, cmdFile, statusFile, log string
}

// startNagios runs Debian's nagios4 in the foreground with a config in a
// temp dir: its own command FIFO, query socket, status and retention
// files, status written every second. As root it stays root
// (nagios_user=root); as anyone else Nagios does not change user.
func startNagios(t *testing.T) nagiosRun {
	t.Helper()
	testtool.Need(t, "nagios4")
	dir := t.TempDir()
	r := nagiosRun{dir: dir, cmdFile: filepath.Join(dir, "rw", "nagios.cmd"), statusFile: filepath.Join(dir, "status.dat"), log: filepath.Join(dir, "nagios.log")}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "rw"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "spool"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "objects.cfg"), []byte(nagiosObjects), 0o644))
	u, err := user.Current()
	require.NoError(t, err)
	g, err := user.LookupGroupId(u.Gid)
	require.NoError(t, err)
	cfg := fmt.Sprintf(`log_file=%[1]s/nagios.log
cfg_file=%[1]s/objects.cfg
object_cache_file=%[1]s/objects.cache
precached_object_file=%[1]s/objects.precache
status_file=%[1]s/status.dat
status_update_interval=1
nagios_user=%[2]s
nagios_group=%[3]s
check_external_commands=1
command_file=%[1]s/rw/nagios.cmd
query_socket=%[1]s/rw/nagios.qh
lock_file=%[1]s/nagios.lock
temp_file=%[1]s/nagios.tmp
temp_path=%[1]s
check_result_path=%[1]s/spool
state_retention_file=%[1]s/retention.dat
retain_state_information=1
use_syslog=0
log_external_commands=1
check_for_updates=0
execute_host_checks=0
execute_service_checks=0
enable_notifications=0
`, dir, u.Username, g.Name)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nagios.cfg"), []byte(cfg), 0o644))
	cmd := exec.Command("nagios4", filepath.Join(dir, "nagios.cfg"))
	out, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			for _, f := range []string{"stdout", "nagios.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	require.Eventually(t, func() bool {
		fi, err := os.Stat(r.cmdFile)
		_, serr := os.Stat(r.statusFile)
		return err == nil && fi.Mode()&os.ModeNamedPipe != 0 && serr == nil
	}, 30*time.Second, 50*time.Millisecond, "nagios4 made no command FIFO and status file")
	return r
}

func (r nagiosRun) silencer(groups ...string) *Nagios {
	n := NewNagios(config.Nagios{CommandFile: r.cmdFile, StatusFile: r.statusFile, Hostgroups: groups,
		Author: "osflow", ConfirmTimeout: config.Duration{Duration: 20 * time.Second}})
	n.poll = 50 * time.Millisecond
	return n
}

// commands returns the external commands Nagios logged, as it received them.
func (r nagiosRun) commands(t *testing.T) []string {
	b, err := os.ReadFile(r.log)
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)EXTERNAL COMMAND: (.*)$`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

func TestNagiosDowntime(t *testing.T) {
	r := startNagios(t)
	n := r.silencer("compute", "login")
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
	st, err := readStatus(r.statusFile)
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
	require.Contains(t, r.commands(t), want)

	// A retry finds them and writes nothing.
	before := len(r.commands(t))
	again, err := n.Silence(ctx, "promotion-r1/silence", w, "outage of r1")
	require.NoError(t, err)
	require.ElementsMatch(t, ids, again)
	require.Len(t, r.commands(t), before)

	require.NoError(t, n.Expire(ctx, "promotion-r1/silence"))
	st, err = readStatus(r.statusFile)
	require.NoError(t, err)
	require.Empty(t, st.of("promotion-r1/silence", ""))
	require.Contains(t, r.commands(t), "DEL_DOWNTIME_BY_HOSTGROUP_NAME;compute;;;;outage of r1, approved by alice (host group compute, hosts) [osflow:promotion-r1/silence]")
	before = len(r.commands(t))
	require.NoError(t, n.Expire(ctx, "promotion-r1/silence"), "expire is idempotent")
	require.Len(t, r.commands(t), before, "nothing left to expire, nothing written")
}

func TestNagiosServicesAndResume(t *testing.T) {
	r := startNagios(t)
	n := r.silencer("compute")
	ctx := context.Background()
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	w := Window{Start: start, End: start.Add(time.Hour)}

	// An earlier attempt got as far as the host downtime, then died.
	hostsOnly := r.silencer("compute")
	hostsOnly.cfg.Services = new(false)
	_, err := hostsOnly.Silence(ctx, "k1", w, "outage")
	require.NoError(t, err)
	before := len(r.commands(t))

	ids, err := n.Silence(ctx, "k1", w, "outage")
	require.NoError(t, err)
	cmds := r.commands(t)[before:]
	require.Len(t, cmds, 1, "only the missing command is written: %v", cmds)
	require.True(t, strings.HasPrefix(cmds[0], "SCHEDULE_HOSTGROUP_SVC_DOWNTIME;compute;"), cmds[0])
	var hosts, services int
	for _, id := range ids {
		if strings.HasPrefix(id, "nagios:service:") {
			services++
		} else {
			hosts++
		}
	}
	require.Equal(t, [2]int{2, 2}, [2]int{hosts, services})

	// A host that left the group keeps its downtime under
	// DEL_DOWNTIME_BY_HOSTGROUP_NAME; Expire deletes it by ID.
	require.NoError(t, n.write(ctx, []string{fmt.Sprintf("SCHEDULE_HOST_DOWNTIME;login1;%d;%d;1;0;3600;osflow;outage (host group compute, hosts) [osflow:k1]", w.Start.Unix(), w.End.Unix())}))
	require.Eventually(t, func() bool {
		st, err := readStatus(r.statusFile)
		return err == nil && len(st.of("k1", "")) == 5
	}, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, n.Expire(ctx, "k1"))
	st, err := readStatus(r.statusFile)
	require.NoError(t, err)
	require.Empty(t, st.of("k1", ""))
	require.Regexp(t, `^DEL_HOST_DOWNTIME;\d+$`, r.commands(t)[len(r.commands(t))-1])
}

func TestNagiosUnknownHostgroup(t *testing.T) {
	r := startNagios(t)
	n := r.silencer("nosuchgroup")
	n.cfg.ConfirmTimeout.Duration = 3 * time.Second
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
