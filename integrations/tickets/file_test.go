package tickets

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/flock"
)

// pinnedClock returns a clock that starts at 2026-05-01 06:00 UTC and
// advances a minute per reading.
func pinnedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 5, 1, 5, 59, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Minute)
		return t
	}
}

func TestFileTrackerWritesReadableMarkdown(t *testing.T) {
	ft := &FileTracker{Dir: t.TempDir(), now: pinnedClock()}
	tk, err := ft.Create(t.Context(), NewTicket{
		Fingerprint: "repoclosure/baseos: kernel",
		Title:       "repoclosure fails on baseos",
		Body:        "nothing provides `foo`\n",
		Labels:      []string{"osflow", "testing"},
	})
	require.NoError(t, err)
	require.Equal(t, "OSF-1", tk.ID)
	require.NoError(t, ft.Comment(t.Context(), tk.ID, "still failing on cycle 2"))
	require.NoError(t, ft.Close(t.Context(), tk.ID, "fixed by kernel-5.14.0-2"))

	got, err := os.ReadFile(filepath.Join(ft.Dir, "OSF-1.md"))
	require.NoError(t, err)
	require.Equal(t, `---
id: OSF-1
fingerprint: 'repoclosure/baseos: kernel'
state: closed
labels: [osflow, testing]
created: 2026-05-01T06:00:00Z
closed: 2026-05-01T06:02:00Z
---

# repoclosure fails on baseos

nothing provides `+"`foo`"+`

## Comment 2026-05-01T06:01:00Z

still failing on cycle 2

## Comment 2026-05-01T06:02:00Z

fixed by kernel-5.14.0-2
`, string(got))
	require.Equal(t, time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC), tk.Created)
	require.Equal(t, "file://"+filepath.Join(ft.Dir, "OSF-1.md"), tk.URL)

	// Closing again keeps the first close time.
	require.NoError(t, ft.Close(t.Context(), tk.ID, ""))
	d, err := readTicketDoc(filepath.Join(ft.Dir, "OSF-1.md"))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 5, 1, 6, 2, 0, 0, time.UTC), *d.meta.Closed)
}

func TestFileTrackerKeepsHumanEdits(t *testing.T) {
	ft := &FileTracker{Dir: t.TempDir()}
	tk, err := ft.Create(t.Context(), nt("fp"))
	require.NoError(t, err)
	p := filepath.Join(ft.Dir, tk.ID+".md")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	data = bytes.Replace(data, []byte("# failure fp"), []byte("# kernel panics on boot (triaged)"), 1)
	data = append(data, "\nTriage: assigned to the kernel team.\n"...)
	require.NoError(t, os.WriteFile(p, data, 0o644))

	require.NoError(t, ft.Comment(t.Context(), tk.ID, "seen again"))
	data, err = os.ReadFile(p)
	require.NoError(t, err)
	require.Contains(t, string(data), "Triage: assigned to the kernel team.\n\n## Comment ")
	found, err := ft.FindOpen(t.Context(), "fp")
	require.NoError(t, err)
	require.Equal(t, "kernel panics on boot (triaged)", found.Title)
}

func TestFileTrackerIgnoresOtherFilesAndRejectsBrokenTickets(t *testing.T) {
	ft := &FileTracker{Dir: t.TempDir()}
	for name, content := range map[string]string{
		"README.md":            "# tickets\n",
		".lock":                "",
		".OSF-7.md.tmp-123":    "half a tick",
		"OSF-01.md":            "not one of ours: leading zero",
		"BUG-1.md":             "another prefix",
		"OSF-3.md.orig":        "a backup",
		"notes/OSF-4.md":       "in a subdirectory",
		"OSF-x.md":             "not a number",
		"osf-2.md":             "wrong case",
		"OSF-1234567890.md":    "too long to be ours",
		"OSF-5.md.tmp-crashed": "",
	} {
		p := filepath.Join(ft.Dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	open, err := ft.ListOpen(t.Context())
	require.NoError(t, err)
	require.Empty(t, open)
	tk, err := ft.Create(t.Context(), nt("fp"))
	require.NoError(t, err)
	require.Equal(t, "OSF-1", tk.ID)

	// A ticket file broken by hand stops lookups with an error naming it
	// (retryable: a human can fix it) rather than being skipped, which
	// would file a duplicate of the ticket it holds.
	broken := filepath.Join(ft.Dir, "OSF-2.md")
	require.NoError(t, os.WriteFile(broken, []byte("# no front matter\n"), 0o644))
	_, err = ft.FindOpen(t.Context(), "fp")
	require.ErrorContains(t, err, broken)
	require.True(t, IsRetryable(err))
	_, _, err = FileOrComment(t.Context(), ft, nt("fp"), "c")
	require.ErrorContains(t, err, broken)

	for content, want := range map[string]string{
		"---\nid: OSF-2\nstate: open\n# no end\n":                     "no closing",
		"---\nid: OSF-2\nstate: pending\n---\n# t\n":                  "state \"pending\"",
		"---\nid: OSF-2\nstate: open\nassignee: bob\n---\n# t\n":      "assignee",
		"---\nid: OSF-9\nfingerprint: x\nstate: open\n---\n# t\n":     "front matter says id \"OSF-9\"",
		"---\nid: OSF-2\nfingerprint: [x\nstate: open\n---\n# t\n":    "front matter",
		"---\nid: OSF-2\ncreated: yesterday\nstate: open\n---\n# t\n": "front matter",
	} {
		require.NoError(t, os.WriteFile(broken, []byte(content), 0o644))
		_, err = ft.ListOpen(t.Context())
		require.ErrorContains(t, err, want)
		require.ErrorContains(t, err, broken)
	}
}

func TestFileTrackerConfiguration(t *testing.T) {
	_, err := (&FileTracker{}).ListOpen(t.Context())
	require.ErrorIs(t, err, ErrInvalid)
	_, err = (&FileTracker{Dir: t.TempDir(), Prefix: "../x"}).Create(t.Context(), nt("fp"))
	require.ErrorIs(t, err, ErrInvalid)

	// A missing directory holds no tickets; the first write creates it.
	ft := &FileTracker{Dir: filepath.Join(t.TempDir(), "a", "b"), Prefix: "BUG"}
	found, err := ft.FindOpen(t.Context(), "fp")
	require.NoError(t, err)
	require.Nil(t, found)
	tk, err := ft.Create(t.Context(), nt("fp"))
	require.NoError(t, err)
	require.Equal(t, "BUG-1", tk.ID)
	require.FileExists(t, filepath.Join(ft.Dir, "BUG-1.md"))
	require.ErrorIs(t, ft.Comment(t.Context(), "OSF-1", "wrong prefix"), ErrInvalid)
}

func TestFileTrackerLockHonoursContext(t *testing.T) {
	ft := &FileTracker{Dir: t.TempDir()}
	unlock, err := flock.Lock(t.Context(), filepath.Join(ft.Dir, ".lock")) // another writer holds it
	require.NoError(t, err)
	defer unlock()

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = ft.Create(ctx, nt("fp"))
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, IsRetryable(err))
	entries, err := os.ReadDir(ft.Dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the lock file: nothing was written")
}

func TestFileTrackerAllocatesDistinctIDsUnderContention(t *testing.T) {
	ft := &FileTracker{Dir: t.TempDir()}
	const n = 40
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// A separate FileTracker value per goroutine, as separate
			// processes would have: only the flock orders them.
			tk, err := (&FileTracker{Dir: ft.Dir}).Create(t.Context(), nt("fp-"+strconv.Itoa(i)))
			ids[i], errs[i] = tk.ID, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	want := make([]string, n)
	for i := range n {
		want[i] = "OSF-" + strconv.Itoa(i+1)
	}
	require.ElementsMatch(t, want, ids)
}

// call is one FileOrComment as a concurrent writer saw it.
type call struct {
	Fingerprint string `json:"fingerprint"`
	Comment     string `json:"comment"`
	ID          string `json:"id"`
	Created     bool   `json:"created"`
}

var contended = []string{"repoclosure/baseos", "install/kernel", "boot/grub"}

const contendedRounds = 15

// fileOrCommentRounds is what each concurrent writer does: every round,
// FileOrComment on every contended fingerprint, each with its own comment.
func fileOrCommentRounds(ctx context.Context, dir, writer string, record func(call) error) error {
	ft := &FileTracker{Dir: dir}
	for round := range contendedRounds {
		for _, fp := range contended {
			c := call{Fingerprint: fp, Comment: fmt.Sprintf("%s round %d", writer, round)}
			tk, created, err := FileOrComment(ctx, ft, nt(fp), c.Comment)
			if err != nil {
				return err
			}
			c.ID, c.Created = tk.ID, created
			if err := record(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestFileTrackerHelperProcess is a concurrent writer in its own process,
// started by TestFileTrackerConcurrentFileOrComment. It prints one JSON
// call per line.
func TestFileTrackerHelperProcess(t *testing.T) {
	dir := os.Getenv("OSFLOW_TICKETS_HELPER_DIR")
	if dir == "" {
		t.Skip("a helper process for TestFileTrackerConcurrentFileOrComment")
	}
	enc := json.NewEncoder(os.Stdout)
	require.NoError(t, fileOrCommentRounds(t.Context(), dir, os.Getenv("OSFLOW_TICKETS_HELPER_WRITER"),
		func(c call) error { return enc.Encode(c) }))
}

func TestFileTrackerConcurrentFileOrComment(t *testing.T) {
	dir := t.TempDir()
	const goroutines, processes = 8, 3

	var mu sync.Mutex
	var calls []call
	record := func(c call) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c)
		return nil
	}

	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for p := range processes {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFileTrackerHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OSFLOW_TICKETS_HELPER_DIR="+dir, "OSFLOW_TICKETS_HELPER_WRITER=process-"+strconv.Itoa(p))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			errs[g] = fileOrCommentRounds(t.Context(), dir, "goroutine-"+strconv.Itoa(g), record)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), outs[i].String())
		sc := bufio.NewScanner(outs[i])
		for sc.Scan() {
			if line := sc.Bytes(); len(line) > 0 && line[0] == '{' {
				var c call
				require.NoError(t, json.Unmarshal(line, &c))
				calls = append(calls, c)
			}
		}
	}
	require.Len(t, calls, (goroutines+processes)*contendedRounds*len(contended))

	ft := &FileTracker{Dir: dir}
	open, err := ft.ListOpen(t.Context())
	require.NoError(t, err)
	require.Len(t, open, len(contended), "exactly one ticket per fingerprint")
	for _, tk := range open {
		var creators int
		var want []string
		for _, c := range calls {
			if c.Fingerprint != tk.Fingerprint {
				continue
			}
			require.Equal(t, tk.ID, c.ID, "every caller saw the one ticket")
			if c.Created {
				creators++ // its comment is the ticket's body, not a comment
			} else {
				want = append(want, c.Comment)
			}
		}
		require.Equal(t, 1, creators, tk.Fingerprint)
		d, err := readTicketDoc(filepath.Join(dir, tk.ID+".md"))
		require.NoError(t, err)
		require.ElementsMatch(t, want, d.comments(), "every comment present once: %s", tk.Fingerprint)
	}
}
