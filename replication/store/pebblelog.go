package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's own log lines to slog. Pebble is chatty about
// routine work (WAL rotation, flushes, compactions), so its info lines go to
// debug level; its errors stay visible.
type pebbleLogger struct {
	log     *slog.Logger
	show    string
	onFatal func(show string, err error)
}

func (s *Store) pebbleLogger(show string) pebbleLogger {
	return pebbleLogger{log: s.log, show: show, onFatal: s.opts.OnFatal}
}

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("pebble: "+fmt.Sprintf(format, args...), "show", l.show)
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: "+fmt.Sprintf(format, args...), "show", l.show)
}

// Fatalf is called by Pebble when it cannot go on with a DB. It never
// panics: a panic ends up recovered where Pebble's state is broken (an HTTP
// handler recovered one and answered nothing), or kills the process without
// a word. Damage to a copy does not come here (damage.go). Pebble's code
// does not expect Fatalf to return, so onFatal does not either.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	l.log.Error(msg, "show", l.show, "fatal", true)
	if l.onFatal != nil {
		l.onFatal(l.show, errors.New(msg))
	}
	select {} // never return into Pebble; onFatal normally stops the process
}
