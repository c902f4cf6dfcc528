package starter

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// printJSON writes v as one line of JSON: scripts read one event per line.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// event is one line of --json progress output.
type event struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	Data  any       `json:"data,omitempty"`
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
