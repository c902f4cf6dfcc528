package tests

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// manifestName lists every recorded history in testdata with its sha256,
// in sha256sum's format ("<sha256>  <name>"), so that `sha256sum -c
// MANIFEST` checks it too. Entries are only ever added.
const manifestName = "MANIFEST"

// isRecording says whether a testdata file is part of a recorded history.
func isRecording(name string) bool {
	return strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".execution")
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// readManifest returns the manifest's entries, name to sha256.
func readManifest(dir string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != sha256.Size*2 || name == "" || strings.ContainsRune(name, '/') {
			return nil, fmt.Errorf("%s line %d: want \"<sha256>  <name>\", got %q", f.Name(), n, sc.Text())
		}
		if _, dup := entries[name]; dup {
			return nil, fmt.Errorf("%s line %d: %s is listed twice", f.Name(), n, name)
		}
		entries[name] = sum
	}
	return entries, sc.Err()
}

// checkManifest lists what breaks the append-only rule in dir: a listed
// recording changed or removed, or a recording the manifest does not list.
func checkManifest(dir string) ([]string, error) {
	entries, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	var problems []string
	for name, want := range entries {
		got, err := fileSHA256(filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problems = append(problems, fmt.Sprintf("%s was removed: recorded histories are append-only (running workflows may still have them); restore it with git", name))
		case err != nil:
			return nil, err
		case got != want:
			problems = append(problems, fmt.Sprintf("%s changed (sha256 %s, %s lists %s): recorded histories are append-only; restore it with git and record under a new name", name, got, manifestName, want))
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, listed := entries[f.Name()]; !listed && isRecording(f.Name()) {
			problems = append(problems, fmt.Sprintf("%s is not in %s: if it is a new recording, add it with `cd %s && sha256sum %s >> %s` (-record adds what it records)",
				f.Name(), manifestName, dir, f.Name(), manifestName))
		}
	}
	slices.Sort(problems)
	return problems, nil
}

// refuseRecorded fails when name is recorded in dir already.
func refuseRecorded(dir, name string) error {
	for _, ext := range []string{".json", ".execution"} {
		if _, err := os.Stat(filepath.Join(dir, name+ext)); err == nil {
			return fmt.Errorf("%s%s is recorded already: recorded histories are append-only, record under a new name (see README, Upgrading osflow)", name, ext)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// addRecording writes a new recording into dir and lists it in the
// manifest; it never replaces a file.
func addRecording(dir, name string, b []byte) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s is recorded already: recorded histories are append-only, record under a new name", name)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	m, err := os.OpenFile(filepath.Join(dir, manifestName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(m, "%s  %s\n", hex.EncodeToString(sum[:]), name); err != nil {
		m.Close()
		return err
	}
	return m.Close()
}

// TestReplayManifest holds testdata to its manifest: recorded histories
// are only ever added.
func TestReplayManifest(t *testing.T) {
	problems, err := checkManifest("testdata")
	require.NoError(t, err)
	require.Empty(t, problems, "tests/testdata breaks the append-only rule:\n%s", strings.Join(problems, "\n"))
}

// TestReplayManifestCheck shows the check catches each way of breaking
// the rule, on a copy of two recordings.
func TestReplayManifestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		want   []string
	}{
		{name: "untouched", change: func(*testing.T, string) {}},
		{
			name: "modified",
			change: func(t *testing.T, dir string) {
				f, err := os.OpenFile(filepath.Join(dir, "a.json"), os.O_WRONLY|os.O_APPEND, 0)
				require.NoError(t, err)
				_, err = f.WriteString(" ")
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: []string{"a.json changed"},
		},
		{
			name:   "removed",
			change: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "a.execution"))) },
			want:   []string{"a.execution was removed"},
		},
		{
			name: "unlisted",
			change: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "b.json"), []byte("{}"), 0o644))
			},
			want: []string{"b.json is not in MANIFEST: if it is a new recording, add it with `cd"},
		},
		{
			name: "added with addRecording",
			change: func(t *testing.T, dir string) {
				require.NoError(t, addRecording(dir, "b.json", []byte("{}")))
			},
		},
		{
			name: "addRecording refuses a recorded name",
			change: func(t *testing.T, dir string) {
				require.ErrorContains(t, addRecording(dir, "a.json", []byte("{}")), "a.json is recorded already")
				require.ErrorContains(t, refuseRecorded(dir, "a"), "a.json is recorded already")
				require.NoError(t, refuseRecorded(dir, "b"))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, addRecording(dir, "a.json", []byte(`{"events":[]}`)))
			require.NoError(t, addRecording(dir, "a.execution", []byte(`{"ID":"x","RunID":"y"}`)))
			tc.change(t, dir)
			problems, err := checkManifest(dir)
			require.NoError(t, err)
			require.Len(t, problems, len(tc.want), "%q", problems)
			for i, want := range tc.want {
				require.Contains(t, problems[i], want)
			}
		})
	}
}
