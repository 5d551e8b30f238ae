package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// The backup's side: joining the active, applying its stream, forwarding
// the operator's edits.

// ErrNoActive: a backup's edit could not reach the active.
var ErrNoActive = errors.New("no active server reachable for the show")

// ErrOutcomeUnknown: an edit left this console, and the path broke before
// its answer came back, so whether it was applied is not known. Setting or
// deleting again is safe (both are idempotent). consolectl exits 4 on it.
var ErrOutcomeUnknown = errors.New("outcome of the edit unknown")

// follow joins p, the active of the show this console is logged on to, and
// applies its stream until the connection or the session ends. joined is
// called once the copy is complete (after a snapshot or the catch-up).
func (e *Engine) follow(ctx context.Context, p *peer, show string, joined func(error)) error {
	once := func(err error) {
		if joined != nil {
			joined(err)
			joined = nil
		}
	}
	defer func() { once(fmt.Errorf("lost the connection to %s while joining", p.id)) }()
	defer p.expectReplies()()
	var sh *store.Show
	var mine store.Lineage
	var reply *wire.JoinReply
	// next returns the active's next message. What it sent before it went
	// (or logged off, or stepped down) is still taken: those edits may be
	// ones it acknowledged, and the successor must hold them.
	next := func() (wire.Msg, error) {
		for {
			changed := p.stateChanged()
			if !p.servesShow(show) {
				select {
				case m := <-p.inbox:
					return m, nil
				default:
					return nil, fmt.Errorf("%w: %s is no longer active for %s", errServingEnded, p.id, show)
				}
			}
			m, _, i := recv(e.sched, p.inbox, time.Time{}, changed, p.done, ctx.Done())
			switch i {
			case 3:
				return m, nil
			case 1:
				select {
				case m := <-p.inbox:
					return m, nil
				default:
					return nil, fmt.Errorf("connection to %s lost", p.id)
				}
			case 2:
				return nil, ctx.Err()
			}
		}
	}
	for {
		e.mu.RLock()
		sh = e.show
		e.mu.RUnlock()
		if sh == nil {
			return ErrNotLoggedOn
		}
		mine = sh.Lineage()
		if err := p.conn.Send(&wire.Join{Show: show, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq}); err != nil {
			return err
		}
		m, err := next()
		if err != nil {
			return err
		}
		var ok bool
		reply, ok = m.(*wire.JoinReply)
		if !ok {
			return unexpected(m, "expected a join reply from %s", p.id)
		}
		// The active may first take what our copy has and its lacks: our newer
		// edits (adopt), then, or instead, our changes since the copies split
		// (merge). Each ends with another reply.
		for turns := 0; reply.Mode == wire.JoinAdopt || reply.Mode == wire.JoinMerge; turns++ {
			if turns == 2 {
				return fmt.Errorf("%s asked for our edits a third time", p.id)
			}
			if reply.Mode == wire.JoinAdopt {
				err = sendNewer(p, sh, reply.Seq)
			} else {
				err = sendChanges(p, sh, reply.Seq)
			}
			if err != nil {
				return fmt.Errorf("sending our edits to %s: %w", p.id, err)
			}
			if m, err = next(); err != nil {
				return err
			}
			if reply, ok = m.(*wire.JoinReply); !ok {
				return unexpected(m, "expected a join reply from %s after it took our edits", p.id)
			}
		}
		// The copy may come from a live backup, or the active may ask us
		// to wait for one: then join again.
		switch reply.Mode {
		case wire.JoinElsewhere:
			if err := e.copyFromBackup(ctx, reply.Reason, show, mine); err != nil {
				e.log.Info("could not take the copy from a backup; joining again", "backup", reply.Reason, "err", err)
				sleep(e.sched, 100*time.Millisecond, ctx.Done())
			}
			continue
		case wire.JoinBusy:
			if !sleep(e.sched, 200*time.Millisecond, ctx.Done()) {
				return ctx.Err()
			}
			continue
		}
		break
	}
	activeEpochs := fromWireEpochs(reply.Epochs)
	switch reply.Mode {
	case wire.JoinRefused:
		err := fmt.Errorf("%w: %s", ErrRefused, reply.Reason)
		once(err)
		return err
	case wire.JoinSnapshot:
		e.setSyncing(true)
		err := e.takeSnapshot(ctx, p, show, mine)
		e.setSyncing(false)
		if err != nil {
			once(err)
			return err
		}
	case wire.JoinCatchUp, wire.JoinUpToDate:
		if sh.Placeholder() {
			// The edits need a copy on disk to go to.
			if err := e.materialize(show); err != nil {
				once(err)
				return err
			}
		}
	default:
		return fmt.Errorf("unknown join mode %d from %s", reply.Mode, p.id)
	}
	e.mu.Lock()
	if e.show == nil || e.show.Name() != show {
		e.mu.Unlock()
		return ErrNotLoggedOn
	}
	sh = e.show
	e.become(RoleBackup, "its copy is complete")
	e.following = p
	e.steppedFor = ""
	e.mu.Unlock()
	e.roleChanged()
	e.log.Info("following the active as a backup", "show", show, "active", p.id, "seq", sh.Lineage().Seq, "active_seq", reply.Seq)
	caughtUp := sh.Lineage().Seq >= reply.Seq
	if caughtUp {
		once(nil)
	} else {
		e.setSyncing(true)
	}
	defer func() {
		e.setSyncing(false)
		e.mu.Lock()
		if e.following == p {
			e.following = nil
		}
		e.mu.Unlock()
	}()
	var edits []wire.Edit
	for {
		m, err := next()
		if err != nil {
			return err
		}
		batch, ok := m.(*wire.Edits)
		if !ok {
			return unexpected(m, "expected edits from %s", p.id)
		}
		// Take every batch that arrived while the last one was being
		// written, and write them all with one fsync: under load the
		// batches grow instead of queueing.
		edits = append(edits[:0], batch.Edits...)
		var bad wire.Msg
		for size := 0; size < maxApplyBytes && len(p.inbox) > 0; {
			m := <-p.inbox
			more, ok := m.(*wire.Edits)
			if !ok {
				bad = m
				break
			}
			edits = append(edits, more.Edits...)
			for _, ed := range more.Edits {
				size += editSize(ed.Key, ed.Value)
			}
		}
		last, err := e.applyStream(sh, reply.ShowID, activeEpochs, edits)
		clear(edits)
		if err != nil {
			return err
		}
		if bad != nil {
			p.conn.Send(&wire.Ack{Seq: last})
			return unexpected(bad, "expected edits from %s", p.id)
		}
		if err := p.conn.Send(&wire.Ack{Seq: last}); err != nil {
			// The active is gone: apply what it sent before going (next
			// returns it), then stop.
			p.conn.Close()
		}
		if last >= reply.Seq && !caughtUp {
			// Caught up, whether this is a launch's join (which returns
			// now) or a rejoin after a failover.
			caughtUp = true
			e.setSyncing(false)
			once(nil)
		}
	}
}

// copyFromBackup takes the show's full copy from the live backup id, the
// active being busy sending copies (JoinElsewhere), and switches it in.
func (e *Engine) copyFromBackup(ctx context.Context, id, show string, mine store.Lineage) error {
	b := e.peer(id)
	if b == nil {
		return fmt.Errorf("%s is not connected", id)
	}
	defer b.expectReplies()()
	j := &wire.Join{Show: show, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq, CopyOnly: true, FromBackup: true}
	if err := b.conn.Send(j); err != nil {
		return err
	}
	m, err := b.receive(ctx)
	if err != nil {
		return err
	}
	if r, ok := m.(*wire.JoinReply); !ok || r.Mode != wire.JoinSnapshot {
		return unexpected(m, "expected a copy from %s", id)
	}
	e.log.Info("taking the show's copy from a backup", "show", show, "backup", id)
	e.setSyncing(true)
	defer e.setSyncing(false)
	return e.takeSnapshot(ctx, b, show, mine)
}

// maxApplyBytes bounds what a backup writes in one Apply when it combines
// the batches that queued up.
const maxApplyBytes = 8 << 20

// applyStream applies the active's edits durably, adopting the active's
// epochs as the stream enters them, and returns the last seq applied.
func (e *Engine) applyStream(sh *store.Show, showID string, epochs []store.Epoch, edits []wire.Edit) (uint64, error) {
	e.mu.RLock()
	current := e.show == sh
	e.mu.RUnlock()
	if !current {
		return 0, ErrNotLoggedOn
	}
	// Off e.mu: a log-off that closes sh meanwhile fails the write.
	if err := applyEdits(sh, showID, epochs, edits); err != nil {
		return 0, err
	}
	e.bumpSeq()
	return sh.Lineage().Seq, nil
}

// adoptEpochs makes the copy's lineage the active's, up to the epoch that
// holds seq. The join checked the copy is a prefix of the active's, so this
// only adds epochs (and sets the ShowID of an empty copy).
func adoptEpochs(sh *store.Show, showID string, active []store.Epoch, seq uint64) error {
	want := active
	for i, ep := range active {
		if ep.FirstSeq > seq {
			want = active[:i]
			break
		}
	}
	cur := sh.Lineage()
	if cur.ShowID == showID && slices.Equal(cur.Epochs, want) {
		return nil
	}
	return sh.SetLineage(store.Lineage{ShowID: showID, Epochs: want, Seq: cur.Seq})
}

// takeSnapshot receives the active's copy and switches it in. The old copy
// is archived unless it is a strict prefix of the new one; then whatever of
// it the new copy does not hold is reported (checkArchived).
func (e *Engine) takeSnapshot(ctx context.Context, p *peer, show string, mine store.Lineage) error {
	dir, lin, err := e.copier().receiveSnapshot(ctx, p, show)
	if err != nil {
		return err
	}
	o := e.installOptions(mine, lin, "active "+p.id)
	// The switch is done off e.mu (it opens Pebble, fsyncs, renames): Status
	// and the heartbeats go on meanwhile, with the old copy's lineage; reads
	// of the show wait for it (reading).
	e.mu.Lock()
	if e.show == nil || e.show.Name() != show {
		e.mu.Unlock()
		return ErrNotLoggedOn
	}
	old, switched := e.show, make(chan struct{})
	e.switched = switched
	e.mu.Unlock()
	e.readers.wait(e.sched)
	if err := old.Close(); err != nil {
		e.log.Warn("closing the old copy", "err", err)
	}
	kept, ierr := e.st.Install(show, dir, o)
	sh, err := e.st.OpenShow(show, true)
	e.mu.Lock()
	e.switched = nil
	close(switched)
	if err != nil {
		e.show = nil
		e.become(RoleOff, "the copy received could not be opened")
		e.mu.Unlock()
		return fmt.Errorf("reopening %s after the transfer: %w", show, err)
	}
	e.show = sh
	e.mu.Unlock()
	if ierr != nil {
		return ierr
	}
	if kept.Name != "" {
		// Off the lock: it reads both copies whole.
		common := Compare(mine, lin).Common
		e.sched.Go(&e.net.wg, func() { e.checkArchived(sh, kept, common, p.id) })
	}
	return nil
}

// checkArchived looks for objects the archived copy changed after common
// (the last seq it shared with the copy that replaced it) that the live
// show does not hold as it did. The active merged in every change it did
// not make itself, so these are the conflicts it won, or edits a merge
// could not bring in: either way acknowledged edits that are not in the
// live show. They are an ERROR, a merge report and a blinking FAULT.
func (e *Engine) checkArchived(sh *store.Show, kept store.Archive, common uint64, active string) {
	n, keys, err := sh.Unmatched(kept.Name, common, maxReportedKeys)
	if err != nil {
		if !errors.Is(err, store.ErrClosed) {
			e.log.Error("cannot compare the archived copy with the live show", "archive", kept.Name, "err", err)
		}
		return
	}
	if n == 0 {
		e.log.Info("the archived copy holds nothing the live show lacks", "archive", kept.Name, "common_seq", common)
		return
	}
	e.log.Error("edits of this console's copy are not in the live show; they are kept in an archive",
		"count", n, "archive", kept.Name, "active", active, "common_seq", common, "keys", strings.Join(keys, " "))
	e.report(Merge{With: active, Time: e.sched.Now().UTC(), Common: common, Conflicts: keys, Unmatched: n, Archive: kept.Name})
}

// materialize replaces the placeholder the engine holds for show with the
// show on disk, created empty.
func (e *Engine) materialize(show string) error {
	e.mu.RLock()
	ph := e.show
	e.mu.RUnlock()
	if ph == nil || ph.Name() != show {
		return ErrNotLoggedOn
	}
	// Off e.mu: it creates the show on disk. Nothing reads a placeholder.
	sh, err := e.st.Materialize(ph)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.show = nil
		e.become(RoleOff, "the copy could not be created")
		return fmt.Errorf("creating %s to take the edits: %w", show, err)
	}
	if e.show != ph {
		sh.Close()
		return ErrNotLoggedOn
	}
	e.show = sh
	return nil
}

// installOptions says whether copy mine, replaced by lin from the console
// named from, is archived first: unless it is a strict prefix of lin.
func (e *Engine) installOptions(mine, lin store.Lineage, from string) store.InstallOptions {
	cmp := Compare(mine, lin)
	o := store.InstallOptions{Console: e.id}
	if cmp.Relation != APrefix && cmp.Relation != Same {
		o.Archive = true
		o.Why = fmt.Sprintf("replaced by the copy of %s (%s", from, cmp.Relation.Between(e.id, from))
		if cmp.Relation == Diverged {
			o.Why += fmt.Sprintf(" after seq %d", cmp.Common)
		}
		o.Why += ")"
	}
	return o
}

// forward sends the operator's edit to the active and returns once the
// active acknowledged it and this copy holds it too, so a get right after a
// set on the same console sees the edit.
func (e *Engine) forward(ctx context.Context, p *peer, ops []store.Op) (uint64, error) {
	e.net.mu.Lock()
	e.net.reqID++
	id := e.net.reqID
	e.net.mu.Unlock()
	ch := make(chan *wire.ForwardReply, 1)
	p.fwdMu.Lock()
	p.fwd[id] = ch
	p.fwdMu.Unlock()
	defer func() {
		p.fwdMu.Lock()
		delete(p.fwd, id)
		p.fwdMu.Unlock()
	}()
	w := make([]wire.Op, len(ops))
	for i, o := range ops {
		w[i] = wire.Op{Key: o.Key, Value: o.Value, Delete: o.Delete}
	}
	// From here on the edit may have reached the active: a broken path
	// leaves its outcome unknown, not failed.
	if err := p.conn.Send(&wire.Forward{ReqID: id, Ops: w}); err != nil {
		return 0, fmt.Errorf("%w: sending to %s: %v", ErrOutcomeUnknown, p.id, err)
	}
	r, _, i := recv(e.sched, ch, time.Time{}, p.done, ctx.Done())
	switch i {
	case 0:
		return 0, fmt.Errorf("%w: connection to %s lost before it answered", ErrOutcomeUnknown, p.id)
	case 1:
		return 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
	if r.Err != "" {
		return 0, kindErr(r.ErrKind, r.Err)
	}
	for {
		wake := e.seqChanged()
		e.mu.RLock()
		sh := e.show
		e.mu.RUnlock()
		if sh == nil || sh.Lineage().Seq >= r.Seq {
			return r.Seq, nil
		}
		if e.sched.Wait(time.Time{}, wake, p.done, ctx.Done()) > 0 {
			return r.Seq, nil // acknowledged by the active; ours follows on rejoin
		}
	}
}
