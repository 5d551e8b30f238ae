package replication

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// The active's side: serving joins, streaming edits, counting acks.

// AckMode says when an edit is acknowledged to the operator.
type AckMode string

const (
	AckLocal AckMode = "local" // durable on the active
	AckOne   AckMode = "one"   // and on at least one backup, when any is connected
	AckAll   AckMode = "all"   // and on every connected backup
)

// ParseAckMode checks an --ack value.
func ParseAckMode(s string) (AckMode, error) {
	switch m := AckMode(s); m {
	case AckLocal, AckOne, AckAll:
		return m, nil
	}
	return "", fmt.Errorf("unknown ack mode %q (want local, one or all)", s)
}

// backupLink is one backup the active streams to.
type backupLink struct {
	p     *peer
	acked uint64 // durable on the backup through this seq
	live  bool   // caught up once: from now on acks wait for it
}

// catchUpLimit: a backup missing more edits than this gets a snapshot, which
// moves the same data in far fewer, larger writes.
const catchUpLimit = 5000

// maxBatchBytes bounds one Edits message well under wire.MaxFrame.
const maxBatchBytes = 2 << 20

func (e *Engine) startServing(ctx context.Context, p *peer, j *wire.Join) {
	sctx, cancel := context.WithCancel(ctx)
	p.serveMu.Lock()
	if p.cancelServe != nil {
		p.cancelServe() // a rejoin replaces the old service
	}
	p.cancelServe = cancel
	p.serveMu.Unlock()
	e.net.wg.Add(1)
	go func() {
		defer e.net.wg.Done()
		defer cancel()
		if err := e.serveBackup(sctx, p, j); err != nil && sctx.Err() == nil && p.alive() {
			e.log.Warn("serving backup", "peer", p.id, "err", err)
			p.conn.Send(&wire.Error{Kind: "join", Msg: err.Error()})
		}
		e.dropBackup(p)
	}()
}

// serveBackup answers a join and then streams every new edit to the backup
// until the connection ends or this console stops being active.
func (e *Engine) serveBackup(ctx context.Context, p *peer, j *wire.Join) error {
	e.mu.RLock()
	sh, role := e.show, e.role
	session := e.session
	e.mu.RUnlock()
	if role != RoleActive || sh == nil || sh.Name() != j.Show {
		reason := fmt.Sprintf("%s is not active for show %q", e.id, j.Show)
		return p.conn.Send(&wire.JoinReply{Mode: wire.JoinRefused, Reason: reason})
	}
	// Stop serving when this console logs off or hands over.
	go func() {
		select {
		case <-session.Done():
			p.serveMu.Lock()
			if p.cancelServe != nil {
				p.cancelServe()
			}
			p.serveMu.Unlock()
		case <-ctx.Done():
		}
	}()
	theirs := store.Lineage{ShowID: j.ShowID, Epochs: fromWireEpochs(j.Epochs), Seq: j.Seq}
	mine := sh.Lineage()
	cmp := Compare(theirs, mine)
	mode := wire.JoinSnapshot
	from := uint64(0)
	if cmp.Relation == Same {
		mode, from = wire.JoinUpToDate, j.Seq
	} else if cmp.Relation == APrefix && mine.Seq-j.Seq <= catchUpLimit && logHolds(sh, j.Seq) {
		mode, from = wire.JoinCatchUp, j.Seq
	}
	e.log.Info("backup joining", "peer", p.id, "show", j.Show, "their_seq", j.Seq, "our_seq", mine.Seq,
		"relation", cmp.Relation.String(), "mode", joinModeName(mode))
	if err := p.conn.Send(&wire.JoinReply{Mode: mode, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq}); err != nil {
		return err
	}
	if mode == wire.JoinSnapshot {
		seq, err := e.sendSnapshot(ctx, p, sh)
		if err != nil {
			return fmt.Errorf("snapshot to %s: %w", p.id, err)
		}
		from = seq
		e.stats.fullSyncs.Add(1)
	} else if mode == wire.JoinCatchUp {
		e.stats.catchUps.Add(1)
	}
	e.acks.mu.Lock()
	e.acks.links[p.id] = &backupLink{p: p, acked: from}
	e.acks.mu.Unlock()
	return e.stream(ctx, p, sh, from)
}

func joinModeName(m uint8) string {
	switch m {
	case wire.JoinCatchUp:
		return "catch-up"
	case wire.JoinSnapshot:
		return "snapshot"
	case wire.JoinUpToDate:
		return "up to date"
	}
	return "refused"
}

// logHolds reports whether the edit log still has the edit after seq.
func logHolds(sh *store.Show, seq uint64) bool {
	if sh.Lineage().Seq == seq {
		return true
	}
	stop := errors.New("stop")
	err := sh.EditsSince(seq, func(store.Edit) error { return stop })
	return errors.Is(err, stop)
}

// stream sends every edit after next to the backup, batching whatever has
// accumulated since the last send, so a busy show sends few large messages
// and a quiet one sends each edit at once. Recent edits come from the
// pipeline's ring; the log is read only to catch up from further back.
func (e *Engine) stream(ctx context.Context, p *peer, sh *store.Show, next uint64) error {
	batch := make([]wire.Edit, 0, 256)
	var pl *pipeline
	for {
		wake := e.seqChanged()
		if pl == nil {
			pl = e.pipelineFor(sh)
		}
		var upTo uint64
		ok := false
		batch = batch[:0]
		if pl != nil {
			batch, upTo, ok = pl.read(next, batch)
		}
		if !ok {
			upTo = sh.Lineage().Seq
			if upTo > next {
				var err error
				if batch, err = readLog(sh, next, batch); err != nil {
					return err
				}
			}
		}
		if len(batch) == 0 {
			if next >= upTo {
				e.markLive(p, next)
			}
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return nil
			case <-p.done:
				return nil
			}
		}
		if err := p.conn.Send(&wire.Edits{Edits: batch}); err != nil {
			return err
		}
		next = batch[len(batch)-1].Seq
		clear(batch) // drop the references to keys and values
	}
}

// readLog appends the logged edits after next to batch, up to a message's
// worth.
func readLog(sh *store.Show, next uint64, batch []wire.Edit) ([]wire.Edit, error) {
	size := 0
	stop := errors.New("batch full")
	err := sh.EditsSince(next, func(ed store.Edit) error {
		batch = append(batch, wire.Edit{Seq: ed.Seq, Epoch: ed.Epoch, Key: ed.Key, Value: ed.Value, Delete: ed.Delete})
		size += editSize(ed.Key, ed.Value)
		if size >= maxBatchBytes || len(batch) >= wire.MaxItems {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return batch, err
	}
	return batch, nil
}

func editSize(key string, value []byte) int { return len(key) + len(value) + 32 }

func (e *Engine) markLive(p *peer, seq uint64) {
	e.acks.mu.Lock()
	defer e.acks.mu.Unlock()
	if l := e.acks.links[p.id]; l != nil && !l.live {
		l.live = true
		e.log.Info("backup is live", "peer", p.id, "seq", seq)
		e.releaseLocked()
	}
}

func (e *Engine) onAck(p *peer, seq uint64) {
	e.acks.mu.Lock()
	defer e.acks.mu.Unlock()
	if l := e.acks.links[p.id]; l != nil && seq > l.acked {
		l.acked = seq
		e.releaseLocked()
	}
}

// stopServing ends the active's service of p's join, if any.
func (e *Engine) stopServing(p *peer) {
	p.serveMu.Lock()
	if p.cancelServe != nil {
		p.cancelServe()
	}
	p.serveMu.Unlock()
	e.dropBackup(p)
}

func (e *Engine) dropBackup(p *peer) {
	e.acks.mu.Lock()
	defer e.acks.mu.Unlock()
	if l := e.acks.links[p.id]; l != nil && l.p == p {
		delete(e.acks.links, p.id)
		e.releaseLocked()
	}
}

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
func (e *Engine) ackedThroughLocked() uint64 {
	a := &e.acks
	if a.mode == AckLocal {
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
	case live == 0:
		return math.MaxUint64 // no backup to wait for: durable here is enough
	case a.mode == AckOne:
		return hi
	}
	return lo
}

// releaseLocked acknowledges the waiting submissions the backups now cover.
func (e *Engine) releaseLocked() {
	a := &e.acks
	if len(a.waiting) == 0 {
		return
	}
	through := e.ackedThroughLocked()
	kept := a.waiting[:0]
	for _, s := range a.waiting {
		if s.seq <= through {
			close(s.done)
		} else {
			kept = append(kept, s)
		}
	}
	clear(a.waiting[len(kept):])
	a.waiting = kept
}

// waitAcked hands durable submissions over to wait for the backups.
func (e *Engine) waitAcked(subs []*submission) {
	a := &e.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiting = append(a.waiting, subs...)
	e.releaseLocked()
	if len(a.waiting) > 0 && a.watchdog == nil {
		a.watchdog = e.clock.AfterFunc(e.opts.AckTimeout, e.ackWatchdog)
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
	now := e.clock.Now()
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
	if len(a.waiting) > 0 {
		oldest := now
		for _, s := range a.waiting {
			if s.at.Before(oldest) {
				oldest = s.at
			}
		}
		next := max(e.opts.AckTimeout-now.Sub(oldest), time.Millisecond)
		a.watchdog = e.clock.AfterFunc(next, e.ackWatchdog)
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
		pl.mu.Unlock()
		return
	}
	pl.mu.Unlock()
	go pl.lead()
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
	// Shared e.mu: a log-off waits for the batch instead of closing the
	// show under it.
	e.mu.RLock()
	if e.role != RoleActive || e.show != pl.sh {
		err = e.errNotActive()
	} else {
		edits, err = pl.sh.Append(ops)
	}
	e.mu.RUnlock()
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
	pl.publish(edits)
	e.bumpSeq()
	now := e.clock.Now()
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

// serveForward orders an edit a backup's operator made.
func (e *Engine) serveForward(ctx context.Context, p *peer, f *wire.Forward) {
	ops := make([]store.Op, len(f.Ops))
	for i, o := range f.Ops {
		ops[i] = store.Op{Key: o.Key, Value: o.Value, Delete: o.Delete}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := &wire.ForwardReply{ReqID: f.ReqID}
	seq, err := e.submitActive(ctx, ops)
	if err != nil {
		r.Err, r.ErrKind = err.Error(), errKind(err)
	}
	r.Seq = seq
	if err := p.conn.Send(r); err != nil {
		e.log.Debug("forward reply lost", "peer", p.id, "err", err)
	}
}

func errKind(err error) string {
	switch {
	case errors.Is(err, ErrBadInput):
		return "bad_input"
	case errors.Is(err, ErrRefused):
		return "refused"
	case errors.Is(err, ErrNotLoggedOn):
		return "not_logged_on"
	case errors.Is(err, store.ErrDiskFull):
		return "disk_full"
	}
	return "internal"
}

func kindErr(kind, msg string) error {
	switch kind {
	case "bad_input":
		return fmt.Errorf("%w: %s", ErrBadInput, msg)
	case "refused":
		return fmt.Errorf("%w: %s", ErrRefused, msg)
	case "not_logged_on":
		return fmt.Errorf("%w: %s", ErrNoActive, msg)
	case "disk_full":
		return fmt.Errorf("%w: %s", store.ErrDiskFull, msg)
	}
	return errors.New(msg)
}
