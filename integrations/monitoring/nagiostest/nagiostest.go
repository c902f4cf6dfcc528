// Package nagiostest runs Debian's nagios4 for tests, the unit tests of
// package monitoring and the tests of activities that must leave its
// command FIFO alone.
package nagiostest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/testtool"
)

// objects: two compute nodes with one service each, one login node
// with none, and the groups holding them. No check ever runs.
const objects = `
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

// Run is one running Nagios.
type Run struct {
	Dir        string
	CmdFile    string // its external command FIFO
	StatusFile string
	Log        string
	// Process is the running nagios4: SIGSTOP makes a Nagios that holds
	// its command FIFO open but acts on nothing.
	Process *os.Process
}

// Start runs Debian's nagios4 in the foreground with a config in a
// temp dir: its own command FIFO, query socket, status and retention
// files, status written every second. As root it stays root
// (nagios_user=root); as anyone else Nagios does not change user.
func Start(t testing.TB) Run {
	t.Helper()
	testtool.Need(t, "nagios4")
	dir := t.TempDir()
	r := Run{Dir: dir, CmdFile: filepath.Join(dir, "rw", "nagios.cmd"), StatusFile: filepath.Join(dir, "status.dat"), Log: filepath.Join(dir, "nagios.log")}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "rw"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "spool"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "objects.cfg"), []byte(objects), 0o644))
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
	r.Process = cmd.Process
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
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
		fi, err := os.Stat(r.CmdFile)
		_, serr := os.Stat(r.StatusFile)
		return err == nil && fi.Mode()&os.ModeNamedPipe != 0 && serr == nil
	}, 30*time.Second, 50*time.Millisecond, "nagios4 made no command FIFO and status file")
	return r
}

// Commands returns the external commands Nagios logged, as it received them.
func (r Run) Commands(t testing.TB) []string {
	b, err := os.ReadFile(r.Log)
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)EXTERNAL COMMAND: (.*)$`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}
