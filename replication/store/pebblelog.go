package store

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's own log lines to slog. Pebble is chatty about
// routine work (WAL rotation, flushes, compactions), so its info lines go to
// debug level; its errors stay visible.
type pebbleLogger struct {
	log  *slog.Logger
	show string
}

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("pebble: "+fmt.Sprintf(format, args...), "show", l.show)
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: "+fmt.Sprintf(format, args...), "show", l.show)
}

// Fatalf is called by Pebble when it cannot go on (for instance a failed WAL
// write leaves its commit pipeline broken). Pebble's code does not expect
// Fatalf to return, so after logging we panic, as its default logger exits.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	l.log.Error(msg, "show", l.show, "fatal", true)
	panic(msg)
}
