package replication

// The ack fence. With no live backup, an active acknowledges an edit once it
// is durable on its own disk: a console left alone keeps the show going.
// That is only right while it really is the show's only active. An active
// that was paused past PeerTimeout (SIGSTOP, a hung disk, a stalled VM) has
// most likely been replaced meanwhile, and one that just lost its last
// backup may be on the losing side of a split. So at either moment the
// fence closes: from then on an edit is acknowledged only once a backup
// holds it, until this console has heard afresh from every console it
// knows, and none of them is active for the show. A console whose peers are
// really gone (their connections ended, nothing came back) is alone again
// after PeerTimeout, and takes edits on its own as before.

import (
	"time"
)

// closeFence stops acknowledging on this disk alone (see above). Called
// with acks.mu held.
func (e *Engine) closeFenceLocked(why string) {
	a := &e.acks
	if a.stopped || !a.fencedAt.IsZero() {
		return
	}
	a.fencedAt, a.fenceWhy = e.sched.Now(), why
	e.log.Info("acknowledging only what a backup holds until every console is heard afresh", "why", why)
}

// fenceFor tells why acknowledgements wait for a backup, "" when they do
// not.
func (e *Engine) fenceFor() string {
	a := &e.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fencedAt.IsZero() {
		return ""
	}
	return a.fenceWhy
}

// checkFence opens the fence once it may: every connected console has sent
// a State since it closed and none is active for this console's show, and
// every console whose connection ended lately has been gone PeerTimeout.
func (e *Engine) checkFence() {
	a := &e.acks
	a.mu.Lock()
	at := a.fencedAt
	a.mu.Unlock()
	if at.IsZero() {
		return
	}
	e.mu.RLock()
	sh, role := e.show, e.role
	e.mu.RUnlock()
	if sh == nil || role != RoleActive {
		return // stopAcks settles what waits
	}
	if e.started {
		for _, p := range e.connected() {
			p.mu.Lock()
			heard := p.stateAt.After(at)
			p.mu.Unlock()
			if !heard || p.servesShow(sh.Name()) {
				return
			}
		}
		if len(e.reconnecting(e.sched.Now().Add(-e.opts.PeerTimeout))) > 0 {
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.fencedAt.Equal(at) {
		return
	}
	e.log.Info("every console heard afresh; acknowledging on this disk again when no backup is live",
		"fenced_for", e.sched.Now().Sub(at).Round(time.Millisecond), "why", a.fenceWhy)
	a.fencedAt, a.fenceWhy = time.Time{}, ""
	e.releaseLocked()
}

// notePause closes the fence when the engine's own loop was held up longer
// than PeerTimeout: the process was stopped or starved, and the peers will
// have taken its silence for a crash.
func (e *Engine) notePause(gap time.Duration) {
	if gap <= e.opts.PeerTimeout {
		return
	}
	e.mu.RLock()
	active := e.role == RoleActive
	e.mu.RUnlock()
	if !active {
		return
	}
	e.log.Warn("this console was paused longer than the peer timeout", "paused", gap.Round(time.Millisecond))
	a := &e.acks
	a.mu.Lock()
	e.closeFenceLocked("paused for " + gap.Round(time.Millisecond).String())
	a.mu.Unlock()
	e.notify()
}
