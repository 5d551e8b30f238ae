package store

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrPlaceholder: a write to a placeholder, which holds nothing durably.
var ErrPlaceholder = errors.New("no copy of the show here yet")

// A console that joins a show it has no copy of used to create an empty one
// on disk first: a Pebble DB made durable file by file, then reopened, some
// 10–30 ms of fsyncs before the join could even be asked for, for a copy
// the full sync replaces straight away. A placeholder stands in for that
// empty copy instead: an empty show (seq 0, a fresh ShowID) in memory, which
// the engine can hold, compare and read like any other, but which refuses
// every write. The copy the join brings is installed beside it; a join that
// brings edits rather than a copy (a catch-up from seq 0) first replaces the
// placeholder with a real empty show (Materialize). A join that fails leaves
// nothing on disk: this console still has no copy, as before.

// OpenPlaceholder returns the show if this store has a copy of it (as
// OpenShow does), else a placeholder for it. A placeholder is open like a
// show: Close it; OpenShow finds it while it is open.
func (s *Store) OpenPlaceholder(name string) (*Show, error) {
	if err := ValidateShowName(name); err != nil {
		return nil, err
	}
	sh, err := s.OpenShow(name, false)
	if !errors.Is(err, ErrNoShow) {
		return sh, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("store: open show %s: store %w", name, ErrClosed)
	}
	if sh := s.shows[name]; sh != nil { // opened or created meanwhile
		sh.refs++
		return sh, nil
	}
	if s.HasShow(name) {
		return nil, fmt.Errorf("store: show %s appeared while a placeholder was being made; open it again", name)
	}
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: s.pebbleLogger(name)})
	if err != nil {
		return nil, fmt.Errorf("store: placeholder for %s: %w", name, err)
	}
	lin, err := writeEmpty(db, pebble.NoSync, s.randomHex(16)) // nothing here is durable anyway
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: placeholder for %s: %w", name, err)
	}
	sh = &Show{st: s, name: name, db: db, refs: 1, lin: lin, placeholder: true}
	s.shows[name] = sh
	return sh, nil
}

// Placeholder reports whether sh is a placeholder (see OpenPlaceholder).
func (sh *Show) Placeholder() bool { return sh.placeholder }

// Materialize closes the placeholder sh (its only reference) and returns
// the show opened from disk, created empty if there is still no copy.
func (s *Store) Materialize(sh *Show) (*Show, error) {
	if !sh.placeholder {
		return nil, fmt.Errorf("store: show %s is not a placeholder", sh.name)
	}
	if err := sh.Close(); err != nil {
		return nil, err
	}
	// The copy a join brings edits into takes the active's ShowID with the
	// first of them: its own is not worth an INFO line.
	return s.openShow(sh.name, true, slog.LevelDebug)
}
