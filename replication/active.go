package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	e.serving.Add(1)
	e.sched.Go(&e.net.wg, func() {
		defer e.serving.Add(-1)
		defer cancel()
		e.mu.RLock()
		session := e.session
		e.mu.RUnlock()
		err := e.serveBackup(sctx, p, j)
		switch {
		case err != nil && sctx.Err() == nil && p.alive():
			e.log.Warn("serving backup", "peer", p.id, "err", err)
			p.conn.Send(&wire.Error{Kind: "join", Msg: err.Error()})
		case !j.CopyOnly && session.Err() != nil && p.alive():
			// This console stopped being active (logged off, stepped
			// down): a backup in the middle of a transfer must not wait
			// for the rest of it.
			p.conn.Send(&wire.Error{Kind: wire.ErrorEnded, Msg: e.id + " no longer serves the show"})
		}
		e.acks.dropBackup(p)
	})
}

// serveBackup answers a join and then streams every new edit to the backup
// until the connection ends or this console stops being active.
func (e *Engine) serveBackup(ctx context.Context, p *peer, j *wire.Join) error {
	if j.CopyOnly {
		return e.serveCopy(ctx, p, j)
	}
	e.mu.RLock()
	sh, role := e.show, e.role
	session := e.session
	e.mu.RUnlock()
	if role != RoleActive || sh == nil || sh.Name() != j.Show {
		reason := fmt.Sprintf("%s is not active for show %q", e.id, j.Show)
		return p.conn.Send(&wire.JoinReply{Mode: wire.JoinRefused, Reason: reason})
	}
	e.acks.joinStarted(p)
	defer e.acks.joinEnded(p)
	// Stop serving when this console logs off or hands over.
	e.sched.Go(&e.net.wg, func() {
		if e.sched.Wait(time.Time{}, session.Done(), ctx.Done()) == 0 {
			p.serveMu.Lock()
			if p.cancelServe != nil {
				p.cancelServe()
			}
			p.serveMu.Unlock()
		}
	})
	theirs := store.Lineage{ShowID: j.ShowID, Epochs: fromWireEpochs(j.Epochs), Seq: j.Seq}
	mine := sh.Lineage()
	cmp := Compare(theirs, mine)
	if cmp.Relation == BPrefix {
		// The joiner's copy extends ours: take its edits as they are.
		switch err := e.adopt(ctx, p, sh, theirs); {
		case err == nil:
		case errors.Is(err, errNoAdopt):
			e.log.Info("the joiner's newer edits are no longer in its log; merging its copy instead", "peer", p.id, "err", err)
		default:
			return err
		}
		mine = sh.Lineage()
		cmp = Compare(theirs, mine)
	}
	if cmp.Relation != Same && cmp.Relation != APrefix {
		// The joiner holds changes ours lacks: take them before our copy
		// replaces its own. A merge that fails fails the join (the joiner
		// tries again); its copy is never replaced unmerged.
		if err := e.merge(ctx, p, sh, theirs, cmp.Common); err != nil {
			return err
		}
		mine = sh.Lineage()
		cmp = Compare(theirs, mine)
	}
	mode := wire.JoinSnapshot
	from := uint64(0)
	if cmp.Relation == Same {
		mode, from = wire.JoinUpToDate, j.Seq
	} else if cmp.Relation == APrefix && mine.Seq-j.Seq <= catchUpLimit && logHolds(sh, j.Seq) {
		mode, from = wire.JoinCatchUp, j.Seq
	}
	if mode == wire.JoinSnapshot && cmp.Relation == APrefix {
		// Nothing of the joiner's is missing here, so any copy of the
		// show will do: when this console sends as many copies as it
		// sends at once, a live backup sends it, or the joiner waits
		// (copySource).
		if from, busy := e.copySource(p); from != "" {
			e.log.Info("backup joining: its copy comes from a backup", "peer", p.id, "from", from)
			return p.conn.Send(&wire.JoinReply{Mode: wire.JoinElsewhere, Reason: from})
		} else if busy {
			return p.conn.Send(&wire.JoinReply{Mode: wire.JoinBusy})
		}
	}
	e.log.Info("backup joining", "peer", p.id, "show", j.Show, "their_seq", j.Seq, "our_seq", mine.Seq,
		"relation", cmp.Relation.Between(p.id, e.id), "mode", joinModeName(mode))
	if err := p.conn.Send(&wire.JoinReply{Mode: mode, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq}); err != nil {
		return err
	}
	if mode == wire.JoinSnapshot {
		e.copies.Add(1)
		seq, err := e.copier().sendSnapshot(ctx, p, sh)
		e.copies.Add(-1)
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
	delete(e.acks.joining, p)
	e.acks.mu.Unlock()
	return e.stream(ctx, p, sh, from)
}

// maxCopies is how many full copies an active sends at once. Past that a
// joiner takes its copy from a live backup, so that after a blackout the
// copies spread out from each console that has one instead of all coming
// from the active.
const maxCopies = 2

// copySource names the live backup a joiner is to take its full copy
// from, in turn, when this active sends maxCopies already; busy, when it
// does and no backup can.
func (e *Engine) copySource(joiner *peer) (from string, busy bool) {
	if e.copies.Load() < maxCopies {
		return "", false
	}
	e.acks.mu.Lock()
	var live []string
	for id, l := range e.acks.links {
		if l.live && l.p != joiner {
			live = append(live, id)
		}
	}
	e.acks.mu.Unlock()
	if len(live) == 0 {
		return "", true
	}
	slices.Sort(live)
	return live[int(e.copyTurn.Add(1))%len(live)], false
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
				e.acks.markLive(p, next)
			}
			if e.sched.Wait(time.Time{}, wake, ctx.Done(), p.done) > 0 {
				return nil
			}
			continue
		}
		f, err := e.editsFrame(pl, batch)
		if err == nil {
			err = p.conn.SendFrame(f)
		}
		if err != nil {
			return err
		}
		next = batch[len(batch)-1].Seq
		clear(batch) // drop the references to keys and values
	}
}

// editsFrame encodes a batch of edits for the streams: once for every
// backup the same batch goes to (the backups of a busy show are mostly at
// the same seq), not once per backup.
func (e *Engine) editsFrame(pl *pipeline, batch []wire.Edit) (wire.Frame, error) {
	from, to := batch[0].Seq, batch[len(batch)-1].Seq
	if pl != nil {
		if f, ok := pl.cachedFrame(from, to); ok {
			return f, nil
		}
	}
	f, err := wire.EncodeFrame(&wire.Edits{Edits: batch})
	if err == nil && pl != nil {
		pl.cacheFrame(from, to, f)
	}
	return f, err
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

// stopServing ends the active's service of p's join, if any.
func (e *Engine) stopServing(p *peer) {
	p.serveMu.Lock()
	if p.cancelServe != nil {
		p.cancelServe()
	}
	p.serveMu.Unlock()
	e.acks.dropBackup(p)
}

// serveForward orders an edit a backup's operator made.
func (e *Engine) serveForward(ctx context.Context, p *peer, f *wire.Forward) {
	ops := make([]store.Op, len(f.Ops))
	for i, o := range f.Ops {
		ops[i] = store.Op{Key: o.Key, Value: o.Value, Delete: o.Delete}
	}
	ctx, cancel := e.withDeadline(ctx, after(e.sched, 30*time.Second))
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
	case errors.Is(err, ErrOutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, ErrNoActive):
		return "no_active"
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
	case "no_active":
		return remoteErr{msg, ErrNoActive}
	case "outcome_unknown":
		return remoteErr{msg, ErrOutcomeUnknown}
	}
	return errors.New(msg)
}

// remoteErr is an error a peer reported whose text already names its kind.
type remoteErr struct {
	msg  string
	kind error
}

func (r remoteErr) Error() string { return r.msg }
func (r remoteErr) Unwrap() error { return r.kind }
