package localcluster

import (
	"bytes"
	"io"
	"os"
)

// logTailBytes bounds what logTail reads: Temporal logs JSON lines with
// stack traces in them, a few KB each.
const logTailBytes = 64 << 10

// logTail is the last n lines of the file at path, indented for an error
// message, or why it cannot be read.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		if _, err := f.Seek(-logTailBytes, io.SeekEnd); err != nil {
			return "    (" + err.Error() + ")"
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && len(lines[0]) == 0 {
		return "    (empty)"
	}
	var out bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.WriteString("    ")
		out.Write(l)
	}
	return out.String()
}
