package localcluster

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	numbered := func(n int) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			b.WriteString("line " + strconv.Itoa(i) + "\n")
		}
		return b.String()
	}
	long := strings.Repeat(strings.Repeat("y", 1000)+"\n", 200) + "the last line\n"
	tests := []struct {
		name, content string
		n             int
		want          []string // the lines, unindented
	}{
		{"shorter than asked", "a\nb\n", 30, []string{"a", "b"}},
		{"no final newline", "a\nb", 30, []string{"a", "b"}},
		{"the last n lines", numbered(100), 3, []string{"line 98", "line 99", "line 100"}},
		{"empty", "", 30, []string{"(empty)"}},
		{"beyond the bytes read", long, 2, []string{strings.Repeat("y", 1000), "the last line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o644))
			want := "    " + strings.Join(tt.want, "\n    ")
			require.Equal(t, want, logTail(path, tt.n))
		})
	}
	require.Contains(t, logTail(filepath.Join(dir, "none.log"), 30), "no such file or directory")
}
