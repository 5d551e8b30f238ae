package replication

// Two consoles with the same --id cannot both be on the show network: every
// peer keeps one connection per console ID, and a show's presence records
// and successor choice name consoles by it. The handshake refuses such a
// pair (wire.ErrDuplicateConsole) and FAULT blinks; a launch while the
// other is around is refused too, else the second console launched the show
// on its own, as a second active with a new ShowID.

import (
	"errors"
	"fmt"
	"time"

	"consoled/replication/wire"
)

// duplicateFresh is how long a console met with this one's ID counts as
// present: longer than a dialer's longest pause between attempts (2 s) and
// than a few beacons.
const duplicateFresh = 5 * time.Second

// ErrDuplicateID: another console on the show network uses this one's ID.
var ErrDuplicateID = errors.New("another console uses this console's ID")

type duplicateNote struct {
	addr string // where the other console is
	at   time.Time
}

// noteDuplicate records a handshake refused because the peer there uses
// this console's ID. h is its Hello, as far as it came.
func (e *Engine) noteDuplicate(dialed bool, addr string, h wire.Hello) {
	if a := listenAddr(dialed, addr, h.Listen); a != "" {
		addr = a
	}
	e.guard.mu.Lock()
	e.guard.duplicate = duplicateNote{addr: addr, at: e.sched.Now()}
	e.guard.mu.Unlock()
}

// checkDuplicate refuses a launch while a console with this one's ID was
// met lately.
func (e *Engine) checkDuplicate(show string) error {
	e.guard.mu.Lock()
	d := e.guard.duplicate
	e.guard.mu.Unlock()
	if d.at.IsZero() || e.sched.Now().Sub(d.at) > duplicateFresh {
		return nil
	}
	me := e.ListenAddr()
	if me == "" {
		me = "no peer address"
	}
	return fmt.Errorf("replication: launch %s: %w: the console at %s is named %s too (this one listens on %s); give each console a unique --id",
		show, ErrDuplicateID, d.addr, e.id, me)
}
