package logging

import (
	"fmt"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
)

// Temporal adapts l to the Temporal SDK's logger, for client.Options.Logger
// and worker logs. Keyvals become zap fields.
func Temporal(l *zap.Logger) log.Logger {
	// Skip this adapter's frame so that the caller is the SDK's call site.
	return &temporalLogger{l: l.WithOptions(zap.AddCallerSkip(1))}
}

type temporalLogger struct{ l *zap.Logger }

var (
	_ log.Logger          = (*temporalLogger)(nil)
	_ log.WithLogger      = (*temporalLogger)(nil)
	_ log.WithSkipCallers = (*temporalLogger)(nil)
)

func (t *temporalLogger) Debug(msg string, keyvals ...any) { t.l.Debug(msg, fields(keyvals)...) }
func (t *temporalLogger) Info(msg string, keyvals ...any)  { t.l.Info(msg, fields(keyvals)...) }
func (t *temporalLogger) Warn(msg string, keyvals ...any)  { t.l.Warn(msg, fields(keyvals)...) }
func (t *temporalLogger) Error(msg string, keyvals ...any) { t.l.Error(msg, fields(keyvals)...) }

// With returns a logger that adds keyvals to every entry.
func (t *temporalLogger) With(keyvals ...any) log.Logger {
	return &temporalLogger{l: t.l.With(fields(keyvals)...)}
}

// WithCallerSkip returns a logger that skips skip more stack frames.
func (t *temporalLogger) WithCallerSkip(skip int) log.Logger {
	return &temporalLogger{l: t.l.WithOptions(zap.AddCallerSkip(skip))}
}

// fields turns alternating keys and values into zap fields. A key that is not
// a string is formatted; a trailing key without a value is kept under
// "!BADKEY", as log/slog does.
func fields(keyvals []any) []zap.Field {
	fs := make([]zap.Field, 0, (len(keyvals)+1)/2)
	for i := 0; i < len(keyvals); i += 2 {
		if i+1 == len(keyvals) {
			fs = append(fs, zap.Any("!BADKEY", keyvals[i]))
			break
		}
		key, ok := keyvals[i].(string)
		if !ok {
			key = fmt.Sprint(keyvals[i])
		}
		fs = append(fs, zap.Any(key, keyvals[i+1]))
	}
	return fs
}
