package replication

// The active's commit pipeline: group commit of operators' edits, the ring
// of recent edits the streams send from, and release of each Submit once
// its edits are acknowledged as the ack mode asks.

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// submission is one Submit's edits on their way through the active.
type submission struct {
	ops  []store.Op
	seq  uint64        // the last of its seqs, once committed
	at   time.Time     // when it became durable here
	err  error         // why it failed, set before done closes
	done chan struct{} // closed once acknowledged or failed
}

// ackedThroughLocked is the seq through which every durable edit is
// acknowledged as the ack mode asks, given what the live backups confirmed.
// With no live backup, durable here is enough, unless the fence is closed
// (fence.go): then only what a backup holds is.
func (e *Engine) ackedThroughLocked() uint64 {
	a := &e.acks
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
		return e.confirmedThroughLocked()
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
func (e *Engine) confirmedThroughLocked() uint64 {
	a := &e.acks
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
func (e *Engine) releaseLocked() {
	a := &e.acks
	close(a.progress)
	a.progress = make(chan struct{})
	live := false
	for _, l := range a.links {
		live = live || l.live
	}
	if a.hadLive && !live {
		e.closeFenceLocked("lost its last live backup")
	}
	a.hadLive = live
	if len(a.waiting) == 0 {
		return
	}
	through := e.ackedThroughLocked()
	if a.stopped {
		through = e.confirmedThroughLocked()
	}
	kept := a.waiting[:0]
	for _, s := range a.waiting {
		switch {
		case s.seq <= through:
			close(s.done)
		case a.stopped:
			s.err = e.errUnconfirmed()
			close(s.done)
		default:
			kept = append(kept, s)
		}
	}
	clear(a.waiting[len(kept):])
	a.waiting = kept
}

// startAcks opens acknowledgements for a new term as active.
func (e *Engine) startAcks() {
	a := &e.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = false
	a.fencedAt, a.fenceWhy, a.hadLive = time.Time{}, "", false
}

// stopAcks ends this console's acknowledgements as active: what a backup
// already holds is acknowledged, the rest fails (the operator is told, and
// may make the edit again on the new active), since this copy alone no
// longer counts: another console orders the show now.
func (e *Engine) stopAcks() {
	a := &e.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	e.releaseLocked()
	if a.watchdog != nil {
		a.watchdog()
		a.watchdog = nil
	}
}

// waitAcked hands durable submissions over to wait for the backups.
func (e *Engine) waitAcked(subs []*submission) {
	a := &e.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiting = append(a.waiting, subs...)
	e.releaseLocked()
	if len(a.waiting) > 0 && a.watchdog == nil {
		a.watchdog = e.afterFunc(e.opts.AckTimeout, e.ackWatchdog)
	}
}

// ackWatchdog runs while submissions wait: a backup that stays connected but
// stops confirming must not stop the show, so once an edit has waited
// AckTimeout the backups short of it no longer count until they catch up.
func (e *Engine) ackWatchdog() {
	a := &e.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	a.watchdog = nil
	now := e.sched.Now()
	var overdue uint64
	for _, s := range a.waiting {
		if now.Sub(s.at) >= e.opts.AckTimeout {
			overdue = max(overdue, s.seq)
		}
	}
	if overdue > 0 {
		for id, l := range a.links {
			if l.live && l.acked < overdue {
				l.live = false
				e.log.Warn("backup is not confirming edits; acknowledging without it until it catches up", "peer", id, "acked", l.acked, "seq", overdue)
			}
		}
		e.releaseLocked()
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
		next := e.opts.AckTimeout - now.Sub(oldest)
		if next <= 0 {
			next = e.opts.AckTimeout
		}
		a.watchdog = e.afterFunc(next, e.ackWatchdog)
	}
}

// pipeline orders the active's edits. Submitters queue their ops; whoever
// finds no commit under way commits everything queued as one batch, so many
// edits share one Pebble write and one fsync (and one wakeup of each
// stream). The new edits go to a ring, so the streams send them from memory
// instead of reading every batch back from the log.
type pipeline struct {
	e  *Engine
	sh *store.Show

	mu      sync.Mutex
	idle    chan struct{} // closed when the commit under way (leading) ends
	queue   []*submission
	leading bool // a commit is under way: new submissions just queue
	closed  bool // this console stopped being active for the show

	// Used by the one committing only.
	batch []*submission
	ops   []store.Op

	ringMu    sync.Mutex
	ring      []wire.Edit // seq s at ring[s%len(ring)], for seqs start..start+n-1
	start     uint64
	n         int
	ringBytes int
}

const (
	// ringEdits and ringBytes bound the recent edits kept in memory; a
	// backup further behind reads the log.
	ringEdits    = 8192
	ringMaxBytes = 16 << 20
	// commitMaxOps and commitMaxBytes bound one committed batch.
	commitMaxOps   = 4096
	commitMaxBytes = 4 << 20
)

// pipelineLocked returns the pipeline of the open show, making it on the
// show's first edit. e.mu is held, shared at least, with this console
// active.
func (e *Engine) pipelineLocked() *pipeline {
	e.pipeMu.Lock()
	defer e.pipeMu.Unlock()
	if pl := e.pipe; pl != nil && pl.sh == e.show && !pl.isClosed() {
		return pl
	}
	pl := &pipeline{e: e, sh: e.show, ring: make([]wire.Edit, ringEdits)}
	e.pipe = pl
	return pl
}

// closePipeline ends the active's pipeline: queued edits fail, and it
// returns once the commit under way (if any) is durable and handed to the
// ack waiters. e.mu must not be held: the commit takes it.
func (e *Engine) closePipeline() {
	e.pipeMu.Lock()
	pl := e.pipe
	e.pipe = nil
	e.pipeMu.Unlock()
	if pl == nil {
		return
	}
	pl.mu.Lock()
	pl.closed = true
	queued := pl.queue
	pl.queue = nil
	for pl.leading {
		idle := pl.idle
		pl.mu.Unlock()
		e.sched.Wait(time.Time{}, idle)
		pl.mu.Lock()
	}
	pl.mu.Unlock()
	err := e.errNotActive()
	for _, s := range queued {
		s.err = err
		close(s.done)
	}
}

// pipelineFor returns the pipeline of sh, or nil when it has none.
func (e *Engine) pipelineFor(sh *store.Show) *pipeline {
	e.pipeMu.Lock()
	defer e.pipeMu.Unlock()
	if pl := e.pipe; pl != nil && pl.sh == sh {
		return pl
	}
	return nil
}

func (pl *pipeline) isClosed() bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.closed
}

// submit queues s; false when the pipeline has ended. When no commit is
// under way the caller commits right away (no hand-over to another goroutine
// for a lone edit); otherwise s goes in the next batch.
func (pl *pipeline) submit(s *submission) bool {
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return false
	}
	pl.queue = append(pl.queue, s)
	if pl.leading {
		pl.mu.Unlock()
		return true
	}
	pl.leading = true
	pl.idle = make(chan struct{})
	pl.mu.Unlock()
	pl.lead()
	return true
}

// lead commits one batch of what is queued, then passes the lead on to a
// new goroutine if more queued meanwhile, so that the caller goes back to
// waiting for its own edits.
func (pl *pipeline) lead() {
	pl.commit()
	pl.mu.Lock()
	if len(pl.queue) == 0 {
		pl.leading = false
		close(pl.idle)
		pl.mu.Unlock()
		return
	}
	pl.mu.Unlock()
	pl.e.sched.Go(&pl.e.net.wg, pl.lead)
}

// take removes a batch's worth of submissions from the queue.
func (pl *pipeline) take() []*submission {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	batch := pl.batch[:0]
	ops, size, i := 0, 0, 0
	for ; i < len(pl.queue); i++ {
		s := pl.queue[i]
		for _, op := range s.ops {
			size += editSize(op.Key, op.Value)
		}
		ops += len(s.ops)
		if i > 0 && (ops > commitMaxOps || size > commitMaxBytes) {
			break
		}
		batch = append(batch, s)
	}
	n := copy(pl.queue, pl.queue[i:])
	clear(pl.queue[n:])
	pl.queue = pl.queue[:n]
	return batch
}

// commit appends one batch and hands its submissions to the ack waiters.
func (pl *pipeline) commit() {
	e := pl.e
	batch := pl.take()
	defer func() {
		clear(batch)
		pl.batch = batch[:0]
	}()
	if len(batch) == 0 {
		return
	}
	ops := pl.ops[:0]
	for _, s := range batch {
		ops = append(ops, s.ops...)
	}
	var edits []store.Edit
	var err error
	e.mu.RLock()
	active, epoch := e.role == RoleActive && e.show == pl.sh, e.epoch
	e.mu.RUnlock()
	if !active {
		err = e.errNotActive()
	} else {
		// Outside e.mu: a log-off or step-down closes the pipeline, which
		// waits for this commit, before the show goes. The edits go in
		// this console's own epoch only: while another console's edits
		// are taken in (adopt.go), the copy is in that console's epochs,
		// and this commit fails, to be made again once they are in. The
		// backups get the edits while this copy's fsync is under way:
		// under --ack all an edit then waits for the slowest of the
		// fsyncs, not for this one and then theirs.
		edits, err = pl.sh.AppendIn(epoch, ops, func(edits []store.Edit) {
			pl.publish(edits)
			e.bumpSeq()
		})
		if errors.Is(err, store.ErrEpochMoved) {
			err = fmt.Errorf("%w: %v", ErrNoActive, err)
		}
	}
	clear(ops)
	pl.ops = ops[:0]
	if errors.Is(err, ErrNoActive) {
		// For good: fail what is queued too, and take no more.
		pl.mu.Lock()
		pl.closed = true
		batch = append(batch, pl.queue...)
		pl.queue = nil
		pl.mu.Unlock()
	}
	if err != nil {
		for _, s := range batch {
			s.err = err
			close(s.done)
		}
		return
	}
	now := e.sched.Now()
	i := 0
	for _, s := range batch {
		i += len(s.ops)
		s.seq, s.at = edits[i-1].Seq, now
	}
	e.waitAcked(batch)
}

// publish puts committed edits in the ring for the streams.
func (pl *pipeline) publish(edits []store.Edit) {
	pl.ringMu.Lock()
	defer pl.ringMu.Unlock()
	size := uint64(len(pl.ring))
	for _, ed := range edits {
		if pl.n > 0 && ed.Seq != pl.start+uint64(pl.n) {
			// Not the next seq: one commit at a time appends, so this cannot
			// happen; start over rather than keep a gap.
			clear(pl.ring)
			pl.n, pl.ringBytes = 0, 0
		}
		if pl.n == 0 {
			pl.start = ed.Seq
		}
		for pl.n > 0 && (pl.n == len(pl.ring) || pl.ringBytes > ringMaxBytes) {
			old := &pl.ring[pl.start%size]
			pl.ringBytes -= editSize(old.Key, old.Value)
			*old = wire.Edit{}
			pl.start++
			pl.n--
		}
		pl.ring[ed.Seq%size] = wire.Edit{Seq: ed.Seq, Epoch: ed.Epoch, Key: ed.Key, Value: ed.Value, Delete: ed.Delete}
		pl.ringBytes += editSize(ed.Key, ed.Value)
		pl.n++
	}
}

// forget empties the ring, for when the show's seq moved past it other
// than by a commit: the streams then read the log.
func (pl *pipeline) forget() {
	pl.ringMu.Lock()
	defer pl.ringMu.Unlock()
	clear(pl.ring)
	pl.n, pl.ringBytes = 0, 0
}

// read appends to batch the edits after next that the ring holds, up to a
// message's worth, and says through which seq edits are published. ok is
// false when the ring does not hold next+1 (the backup is further behind,
// or nothing was published yet): read the log instead.
func (pl *pipeline) read(next uint64, batch []wire.Edit) (_ []wire.Edit, upTo uint64, ok bool) {
	pl.ringMu.Lock()
	defer pl.ringMu.Unlock()
	if pl.n == 0 || next+1 < pl.start {
		return batch, 0, false
	}
	last := pl.start + uint64(pl.n) - 1
	size := 0
	for s := next + 1; s <= last; s++ {
		ed := pl.ring[s%uint64(len(pl.ring))]
		batch = append(batch, ed)
		size += editSize(ed.Key, ed.Value)
		if size >= maxBatchBytes || len(batch) >= wire.MaxItems {
			break
		}
	}
	return batch, last, true
}
