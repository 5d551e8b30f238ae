package replication

// The active's acknowledgements: the backups it streams to, how far each
// confirmed, the fence (fence.go), and the edits waiting to be acknowledged
// as the ack mode asks. It is one type with its own lock (ackSet.mu, taken
// after e.mu when both are, never before), told of each backup's progress by
// the streams and of each commit by the pipeline.

import (
	"log/slog"
	"math"
	"sync"
	"time"
)

// backupLink is one backup the active streams to.
type backupLink struct {
	p     *peer
	acked uint64 // durable on the backup through this seq
	live  bool   // caught up once: from now on acks wait for it
}

// ackSet is the backups an active streams to, how far each confirmed, and
// the Submits waiting for their edits to be confirmed.
type ackSet struct {
	mu    sync.Mutex
	mode  AckMode
	links map[string]*backupLink
	// waiting are the submissions durable here and waiting for backups, in
	// no particular order; each ack releases exactly the ones it covers,
	// so a Submit wakes once instead of on every ack.
	waiting  []*submission
	watchdog func() // stops the watchdog armed while any submission waits
	// stopped: this console is not (or no longer) active, so "no backup
	// connected" no longer means "durable here is enough"; see stopAcks.
	stopped  bool
	progress chan struct{} // closed whenever a backup confirms more, or goes
	// The fence (fence.go): while fencedAt is set, an edit is acknowledged
	// only once a backup holds it. hadLive: some backup was live at the
	// last release, so the next one with none lost the last.
	fencedAt time.Time
	fenceWhy string
	hadLive  bool
	// joining counts the backups whose join is being served and that are
	// not streamed to yet (a copy on its way): a hand-over waits for them.
	joining map[*peer]bool

	// What the ack accounting needs of the engine.
	log        *slog.Logger
	now        func() time.Time
	timeout    time.Duration                                 // AckTimeout
	afterFunc  func(d time.Duration, f func()) (stop func()) // runs f on a goroutine of the engine
	errStopped func() error                                  // what an edit no backup confirmed fails with once this console is no longer active
}

// ackedThroughLocked is the seq through which every durable edit is
// acknowledged as the ack mode asks, given what the live backups confirmed.
// With no live backup, durable here is enough, unless the fence is closed
// (fence.go): then only what a backup holds is.
func (a *ackSet) ackedThroughLocked() uint64 {
	fenced := !a.fencedAt.IsZero()
	if a.mode == AckLocal && !fenced {
		return math.MaxUint64
	}
	live := 0
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for _, l := range a.links {
		if !l.live {
			continue
		}
		live++
		lo, hi = min(lo, l.acked), max(hi, l.acked)
	}
	switch {
	case live == 0 && fenced:
		return a.confirmedThroughLocked()
	case live == 0:
		return math.MaxUint64 // no backup to wait for: durable here is enough
	case a.mode == AckAll:
		return lo
	}
	return hi
}

// confirmedThroughLocked is the seq through which the backups themselves
// hold the edits as the ack mode asks, counting no shortcut: what is left
// of an active's acknowledgements when it stops being one.
func (a *ackSet) confirmedThroughLocked() uint64 {
	var hi uint64
	lo, live := uint64(math.MaxUint64), 0
	for _, l := range a.links {
		hi = max(hi, l.acked)
		if l.live {
			live++
			lo = min(lo, l.acked)
		}
	}
	if a.mode == AckAll && live > 0 {
		return lo
	}
	return hi
}

// releaseLocked acknowledges the waiting submissions the backups now cover.
// It is called at every change of the backups, so it is also where the
// loss of the last live one closes the fence.
func (a *ackSet) releaseLocked() {
	close(a.progress)
	a.progress = make(chan struct{})
	live := false
	for _, l := range a.links {
		live = live || l.live
	}
	if a.hadLive && !live {
		a.closeFenceLocked("lost its last live backup")
	}
	a.hadLive = live
	if len(a.waiting) == 0 {
		return
	}
	through := a.ackedThroughLocked()
	if a.stopped {
		through = a.confirmedThroughLocked()
	}
	kept := a.waiting[:0]
	for _, s := range a.waiting {
		switch {
		case s.seq <= through:
			close(s.done)
		case a.stopped:
			s.err = a.errStopped()
			close(s.done)
		default:
			kept = append(kept, s)
		}
	}
	clear(a.waiting[len(kept):])
	a.waiting = kept
}

// startAcks opens acknowledgements for a new term as active.
func (a *ackSet) startAcks() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = false
	a.fencedAt, a.fenceWhy, a.hadLive = time.Time{}, "", false
}

// stopAcks ends this console's acknowledgements as active: what a backup
// already holds is acknowledged, the rest fails (the operator is told, and
// may make the edit again on the new active), since this copy alone no
// longer counts: another console orders the show now.
func (a *ackSet) stopAcks() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	a.releaseLocked()
	if a.watchdog != nil {
		a.watchdog()
		a.watchdog = nil
	}
}

// waitAcked hands durable submissions over to wait for the backups.
func (a *ackSet) waitAcked(subs []*submission) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiting = append(a.waiting, subs...)
	a.releaseLocked()
	if len(a.waiting) > 0 && a.watchdog == nil {
		a.watchdog = a.afterFunc(a.timeout, a.ackWatchdog)
	}
}

// ackWatchdog runs while submissions wait: a backup that stays connected but
// stops confirming must not stop the show, so once an edit has waited
// AckTimeout the backups short of it no longer count until they catch up.
func (a *ackSet) ackWatchdog() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.watchdog = nil
	now := a.now()
	var overdue uint64
	for _, s := range a.waiting {
		if now.Sub(s.at) >= a.timeout {
			overdue = max(overdue, s.seq)
		}
	}
	if overdue > 0 {
		for id, l := range a.links {
			if l.live && l.acked < overdue {
				l.live = false
				a.log.Warn("backup is not confirming edits; acknowledging without it until it catches up", "peer", id, "acked", l.acked, "seq", overdue)
			}
		}
		a.releaseLocked()
	}
	if len(a.waiting) > 0 && !a.stopped {
		oldest := now
		for _, s := range a.waiting {
			if s.at.Before(oldest) {
				oldest = s.at
			}
		}
		// The next submission to become overdue; when the oldest already
		// is (it waits for the fence, or a stopped backup), nothing is to
		// be done before a backup confirms more, which releases on its own.
		next := a.timeout - now.Sub(oldest)
		if next <= 0 {
			next = a.timeout
		}
		a.watchdog = a.afterFunc(next, a.ackWatchdog)
	}
}

func (a *ackSet) markLive(p *peer, seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.links[p.id]; l != nil && !l.live {
		l.live = true
		a.log.Info("backup is live", "peer", p.id, "seq", seq)
		a.releaseLocked()
	}
}

func (a *ackSet) onAck(p *peer, seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.links[p.id]; l != nil && seq > l.acked {
		l.acked = seq
		a.releaseLocked()
	}
}

func (a *ackSet) dropBackup(p *peer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.links[p.id]; l != nil && l.p == p {
		delete(a.links, p.id)
		a.releaseLocked()
	}
}

// closeFence stops acknowledging on this disk alone (see above). Called
// with acks.mu held.
func (a *ackSet) closeFenceLocked(why string) {
	if a.stopped || !a.fencedAt.IsZero() {
		return
	}
	a.fencedAt, a.fenceWhy = a.now(), why
	a.log.Info("acknowledging only what a backup holds until every console is heard afresh", "why", why)
}

// fenceFor tells why acknowledgements wait for a backup, "" when they do
// not.
func (a *ackSet) fenceFor() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fencedAt.IsZero() {
		return ""
	}
	return a.fenceWhy
}

// joinStarted and joinStreaming track the joins being served that are not
// yet streamed to (see ackSet.joining).
func (a *ackSet) joinStarted(p *peer) {
	a.mu.Lock()
	a.joining[p] = true
	a.mu.Unlock()
}

func (a *ackSet) joinEnded(p *peer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.joining[p] {
		delete(a.joining, p)
		a.releaseLocked() // wakes a hand-over waiting for it
	}
}
