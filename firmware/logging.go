package firmware

import (
	"fmt"
	"io"
	"log/slog"
)

// The log formats of --log-format: text (key=value, for people and
// journald) and json (one object a line, for log collectors).
var logFormats = []string{"text", "json"}

func checkLogFormat(f string) error {
	for _, ok := range logFormats {
		if f == ok {
			return nil
		}
	}
	return fmt.Errorf("unknown format %q (want text or json)", f)
}

// newLogger is the service's logger as cfg says: --log-level and
// --log-format, written to w.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	lvl, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
