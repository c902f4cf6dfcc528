package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A journal is one JSON line per delivery, appended and fsynced once the
// channel took the message: what a restarted worker reads back so that it
// does not resend. A torn last line (a crash mid-append) is ignored: that
// delivery is then at least once, as without a journal.
type journalLine struct {
	Key      string `json:"key"`
	Notifier string `json:"notifier"`
}

// load reads the journal once, keeping the most recent keys, and rewrites
// it when it holds many more lines than that, so that it stays small.
func (m *Multi) load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loaded || m.Journal == "" {
		return nil
	}
	b, err := os.ReadFile(m.Journal)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("notify: read the delivery journal: %w", err)
	}
	lines := 0
	for _, raw := range bytes.SplitAfter(b, []byte("\n")) {
		var l journalLine
		if !bytes.HasSuffix(raw, []byte("\n")) || json.Unmarshal(raw, &l) != nil || l.Key == "" {
			continue
		}
		lines++
		m.remember(l.Key, l.Notifier)
	}
	if lines > 2*multiMemory {
		if err := m.compact(); err != nil {
			return err
		}
	}
	m.loaded = true
	return nil
}

// compact rewrites the journal with the keys remembered; m.mu is held.
func (m *Multi) compact() error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, k := range m.keys {
		for name := range m.sent[k] {
			if err := enc.Encode(journalLine{Key: k, Notifier: name}); err != nil {
				return fmt.Errorf("notify: compact the delivery journal: %w", err)
			}
		}
	}
	tmp := m.Journal + ".tmp"
	if err := writeSynced(tmp, buf.Bytes()); err != nil {
		return fmt.Errorf("notify: compact the delivery journal: %w", err)
	}
	if err := os.Rename(tmp, m.Journal); err != nil {
		return fmt.Errorf("notify: compact the delivery journal: %w", err)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// appendJournal records one delivery durably.
func appendJournal(path, key, name string) error {
	line, err := json.Marshal(journalLine{Key: key, Notifier: name})
	if err != nil {
		return fmt.Errorf("record the delivery: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("record the delivery: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record the delivery: %w", err)
	}
	w := bufio.NewWriter(f)
	_, _ = w.Write(append(line, '\n'))
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("record the delivery: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("record the delivery: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record the delivery: %w", err)
	}
	return nil
}
