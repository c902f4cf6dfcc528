package logging

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestNew(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		l, err := New(format, "warn")
		require.NoError(t, err)
		require.False(t, l.Core().Enabled(zapcore.InfoLevel))
		require.True(t, l.Core().Enabled(zapcore.WarnLevel))
	}
	_, err := New("xml", "info")
	require.ErrorContains(t, err, `format "xml"`)
	_, err = New("json", "loud")
	require.ErrorContains(t, err, `level "loud"`)
	_, err = New("json", "fatal")
	require.ErrorContains(t, err, `level "fatal"`)
}

func TestTemporal(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var l log.Logger = Temporal(zap.New(core, zap.AddCaller()))

	l.Debug("d", "Namespace", "default", "Attempt", 3)
	l.Info("odd", "WorkflowID", "w1", "dangling")
	l.Warn("nonstring key", 42, "v")
	l.Error("failed", "Error", errors.New("boom"))
	log.With(l, "TaskQueue", "osflow").Info("with", "k", "v")
	log.Skip(l, 0).Info("skip")

	entries := logs.AllUntimed()
	require.Len(t, entries, 6)
	require.Equal(t, zapcore.DebugLevel, entries[0].Level)
	require.Equal(t, map[string]any{"Namespace": "default", "Attempt": int64(3)}, entries[0].ContextMap())
	require.Equal(t, map[string]any{"WorkflowID": "w1", "!BADKEY": "dangling"}, entries[1].ContextMap())
	require.Equal(t, map[string]any{"42": "v"}, entries[2].ContextMap())
	require.Equal(t, zapcore.ErrorLevel, entries[3].Level)
	require.Equal(t, "boom", entries[3].ContextMap()["Error"])
	require.Equal(t, map[string]any{"TaskQueue": "osflow", "k": "v"}, entries[4].ContextMap())
	for _, e := range entries {
		require.Equal(t, "logging_test.go", filepath.Base(e.Caller.File), "entry %q", e.Message)
	}
}
