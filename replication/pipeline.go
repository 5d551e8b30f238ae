package replication

// The active's commit pipeline: group commit of operators' edits, the ring
// of recent edits the streams send from, and release of each Submit once
// its edits are acknowledged as the ack mode asks.

import (
	"errors"
	"fmt"
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
	frame     cachedEdits // the last batch a stream encoded (editsFrame)
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
	e.acks.waitAcked(batch)
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

// cachedEdits is one encoded batch of edits, from and to being its seqs.
type cachedEdits struct {
	from, to uint64
	f        wire.Frame
}

func (pl *pipeline) cachedFrame(from, to uint64) (wire.Frame, bool) {
	pl.ringMu.Lock()
	defer pl.ringMu.Unlock()
	c := pl.frame
	return c.f, c.from == from && c.to == to && c.to != 0
}

func (pl *pipeline) cacheFrame(from, to uint64, f wire.Frame) {
	pl.ringMu.Lock()
	pl.frame = cachedEdits{from, to, f}
	pl.ringMu.Unlock()
}

// forget empties the ring, for when the show's seq moved past it other
// than by a commit: the streams then read the log.
func (pl *pipeline) forget() {
	pl.ringMu.Lock()
	defer pl.ringMu.Unlock()
	clear(pl.ring)
	pl.n, pl.ringBytes = 0, 0
	pl.frame = cachedEdits{}
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
