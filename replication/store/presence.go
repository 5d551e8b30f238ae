package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Presence is what a copy remembers of the consoles it was last on the show
// with: the stale-launch guard's memory (rule 6). The engine keeps it up to
// date while logged on, so after a crash it still tells who carried on.
//
// It lives beside the show's Pebble directory, not in it, because a copy
// received whole from another console carries that console's keys.
type Presence struct {
	// With are the other consoles that were logged on to the show when this
	// copy last was: if any, they may have carried on without it, and this
	// copy may be outdated.
	With []string `json:"with"`
	// Left is when this console logged off the show; zero while it is on,
	// and after a crash.
	Left time.Time `json:"left"`
	// MasterCopy: this console was the last server of the show to log off,
	// so its copy is the show's master copy (rule 5).
	MasterCopy bool `json:"master_copy"`
	// Master is the designated master console (--master) last seen on the
	// show; a launch waits a grace period for it (rule 5).
	Master string `json:"master,omitempty"`
	// Unshared counts edits this copy holds that no other console confirmed
	// when it logged off (the hand-over gave up waiting): the show lacks
	// them until this copy joins its active, which merges them in.
	Unshared uint64 `json:"unshared,omitempty"`
}

// Outdated reports whether the copy may be outdated: others carried on.
func (p Presence) Outdated() bool { return len(p.With) > 0 }

// Equal compares two records.
func (p Presence) Equal(o Presence) bool {
	return slices.Equal(p.With, o.With) && p.Left.Equal(o.Left) && p.MasterCopy == o.MasterCopy && p.Master == o.Master && p.Unshared == o.Unshared
}

func (s *Store) presencePath(show string) string {
	return filepath.Join(s.dir, "presence", show+".json")
}

// Presence reads the show's record; a show never logged on to has the zero
// one.
func (s *Store) Presence(show string) (Presence, error) {
	var p Presence
	if err := ValidateShowName(show); err != nil {
		return p, err
	}
	b, err := os.ReadFile(s.presencePath(show))
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("store: presence of %s: %w", show, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("store: presence of %s: %s: %w", show, s.presencePath(show), err)
	}
	return p, nil
}

// SetPresence replaces the show's record durably (written beside, synced,
// renamed over), so a crash leaves the old record or the new one.
func (s *Store) SetPresence(show string, p Presence) error {
	if err := ValidateShowName(show); err != nil {
		return err
	}
	p.With = slices.Sorted(slices.Values(p.With))
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: presence of %s: %w", show, err)
	}
	path := s.presencePath(show)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("store: presence of %s: %w", show, err)
	}
	if err := writeSynced(path, b); err != nil {
		return fmt.Errorf("store: presence of %s: %w", show, err)
	}
	return nil
}
