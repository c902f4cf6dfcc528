package workflows

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/tickets"
)

// sizeConverter is the default data converter, noting the largest set of
// payloads it encoded: every workflow and activity input and result,
// heartbeat and query answer goes through it.
type sizeConverter struct {
	converter.DataConverter
	mu      sync.Mutex
	largest int
	what    string
}

func (c *sizeConverter) ToPayloads(values ...any) (*commonpb.Payloads, error) {
	p, err := c.DataConverter.ToPayloads(values...)
	if err == nil {
		c.note(proto.Size(p), values)
	}
	return p, err
}

func (c *sizeConverter) ToPayload(value any) (*commonpb.Payload, error) {
	p, err := c.DataConverter.ToPayload(value)
	if err == nil {
		c.note(proto.Size(p), []any{value})
	}
	return p, err
}

func (c *sizeConverter) note(size int, values []any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.largest {
		c.largest = size
		c.what = ""
		for _, v := range values {
			c.what += fmt.Sprintf("%T ", v)
		}
	}
}

// memTracker keeps tickets in memory with the Tracker contract (Create
// returns the open ticket of its fingerprint, oldest first): the file
// tracker reads every ticket per filing, too slow for 2,000 in a unit test.
type memTracker struct {
	mu      sync.Mutex
	tickets []tickets.Ticket
	texts   map[string]string
}

func (m *memTracker) FindOpen(_ context.Context, fp string) (*tickets.Ticket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tickets {
		if t.State == tickets.StateOpen && t.Fingerprint == fp {
			return &t, nil
		}
	}
	return nil, nil
}

func (m *memTracker) Create(ctx context.Context, nt tickets.NewTicket) (tickets.Ticket, error) {
	if t, _ := m.FindOpen(ctx, nt.Fingerprint); t != nil {
		return *t, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := tickets.Ticket{ID: fmt.Sprintf("MEM-%d", len(m.tickets)+1), Fingerprint: nt.Fingerprint, Title: nt.Title,
		State: tickets.StateOpen, Labels: nt.Labels}
	m.tickets = append(m.tickets, t)
	if m.texts == nil {
		m.texts = map[string]string{}
	}
	m.texts[t.ID] = nt.Body
	return t, nil
}

func (m *memTracker) Comment(_ context.Context, id, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.texts[id] += body
	return nil
}

func (m *memTracker) Close(_ context.Context, id, comment string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.tickets {
		if m.tickets[i].ID == id {
			m.tickets[i].State = tickets.StateClosed
		}
	}
	m.texts[id] += comment
	return nil
}

func (m *memTracker) ListOpen(_ context.Context, _ ...string) ([]tickets.Ticket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []tickets.Ticket
	for _, t := range m.tickets {
		if t.State == tickets.StateOpen {
			out = append(out, t)
		}
	}
	return out, nil
}

func (m *memTracker) HasMarker(_ context.Context, id, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Contains(m.texts[id], tickets.Marker(key)), nil
}

// failingJUnit writes a JUnit report of n failing cases, each with a
// message longer than a case may carry.
func failingJUnit(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "<testsuite name=\"s\" tests=\"%d\" failures=\"%d\">\n", n, n)
	for i := range n {
		fmt.Fprintf(&b, "<testcase classname=\"c\" name=\"case-%03d\"><failure message=\"m\">%s</failure></testcase>\n",
			i, strings.Repeat(fmt.Sprintf("case %d: nothing provides libfoo.so.%d; ", i, i), 200))
	}
	b.WriteString("</testsuite>\n")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

// A round of 20 suites, each at the failure cap with long messages: the
// round's results travel by reference, so no payload comes near Temporal's
// limit, and every failing case still gets its ticket.
func TestCycleRoundAtTheFailureCapKeepsPayloadsSmall(t *testing.T) {
	const suites, failing = 20, 100 // 100: the cap on failing cases a suite result carries
	dir := t.TempDir()
	junit := filepath.Join(dir, "junit.xml")
	failingJUnit(t, junit, failing)
	cfg := &config.Config{HTTP: config.HTTP{BaseURL: "http://127.0.0.1:1/"}, Repos: []config.Repo{{Name: "baseos"}}}
	plan := cyclePlan
	plan.Suites, plan.CleanRounds = nil, 1
	for i := range suites {
		name := fmt.Sprintf("suite-%02d", i)
		plan.Suites = append(plan.Suites, name)
		cfg.Testing.Suites = append(cfg.Testing.Suites, config.Suite{Name: name,
			Command: []string{"sh", "-c", `cp "$0" "$OSFLOW_JUNIT"; exit 1`, junit}})
	}
	tracker := &memTracker{}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	dc := &sizeConverter{DataConverter: converter.GetDefaultDataConverter()}
	env.SetDataConverter(dc)
	env.SetTestTimeout(5 * time.Minute) // 2,000 tickets in files
	env.RegisterWorkflowWithOptions(TestCycle, workflow.RegisterOptions{Name: TestCycleWorkflowType})
	env.RegisterActivity(&activities.ConfigActivities{})
	env.RegisterActivity(&activities.RepoActivities{})
	env.RegisterActivity(&activities.TestActivities{Config: cfg, ResultsDir: filepath.Join(dir, "results")})
	env.RegisterActivity(&activities.TicketActivities{Tracker: tracker, Config: cfg})
	env.OnActivity(configActs.TestPlan, mock.Anything).Return(plan, nil)
	tc := &testingChannel{release: "r1"}
	env.OnActivity(repoActs.ChannelState, mock.Anything, mock.Anything).Return(tc.state)
	tc.serve(env, time.Minute, "r1")
	var st TestCycleState
	env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, 30*time.Minute)
	env.RegisterDelayedCallback(env.CancelWorkflow, 40*time.Minute)
	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.Len(t, st.Rounds, 1, "one round ran: %+v", st)
	require.Empty(t, st.Rounds[0].Error)
	require.Equal(t, suites*failing, st.OpenTickets)
	require.Len(t, st.Watch, maxWatched, "the cycle watches the oldest open tickets")
	open, err := tracker.ListOpen(context.Background())
	require.NoError(t, err)
	require.Len(t, open, suites*failing, "a ticket for each failing case")
	filed := map[string]bool{}
	for _, tk := range open {
		filed[tk.Fingerprint] = true
	}
	for _, suite := range plan.Suites {
		for i := range failing {
			require.True(t, filed[fmt.Sprintf("%s/c.case-%03d", suite, i)], "no ticket for %s case %d", suite, i)
		}
	}
	t.Logf("largest payload: %d bytes (%s)", dc.largest, dc.what)
	require.Less(t, dc.largest, 128<<10, "the largest payload (%s) is %d bytes", dc.what, dc.largest)
}
