package replication

// Newer-joiner adoption: a console that joins with a copy holding all of the
// active's history and more (the active launched an older copy first, the
// manual's rule-6 hazard) gives the active its missing edits instead of
// having them overwritten.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// errNoAdopt: the joiner could not send every edit the active lacks (its
// log no longer has them); the join goes on the usual way.
var errNoAdopt = errors.New("the joiner's edit log does not reach back to the active's copy")

// adoptTimeout bounds how long the active waits for a joiner's edits (or a
// merge's changes) while it takes no edits of its own.
const adoptTimeout = 30 * time.Second

// adopt takes the edits after the active's seq from p, whose copy's history
// has the active's as a strict prefix, and starts a new epoch after them.
// While they come in the copy is in p's epochs, and this console's own
// edits fail to commit (store.AppendIn) and are made again once the new
// epoch begins; so its copy stays a prefix of p's until the edits are in.
func (e *Engine) adopt(ctx context.Context, p *peer, sh *store.Show, theirs store.Lineage) error {
	release, err := e.take(ctx)
	if err != nil {
		return err
	}
	defer release()
	e.mu.RLock()
	active := e.role == RoleActive && e.show == sh
	e.mu.RUnlock()
	if !active {
		return e.errNotActive()
	}
	mine := sh.Lineage()
	if Compare(theirs, mine).Relation != BPrefix {
		return errNoAdopt // an edit of ours committed since the join came in
	}
	e.log.Info("joiner holds a newer copy of the show; taking its edits", "peer", p.id, "their_seq", theirs.Seq, "our_seq", mine.Seq)
	defer p.expectReplies()()
	if err := p.conn.Send(&wire.JoinReply{Mode: wire.JoinAdopt, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq}); err != nil {
		return err
	}
	err = e.takeEdits(ctx, p, func(edits []wire.Edit) error {
		if edits[0].Seq != sh.Lineage().Seq+1 {
			return fmt.Errorf("edits from %s start at seq %d, want %d", p.id, edits[0].Seq, sh.Lineage().Seq+1)
		}
		return applyEdits(sh, theirs.ShowID, theirs.Epochs, edits)
	})
	got := sh.Lineage()
	if got.Seq > mine.Seq {
		// Whatever came, this console goes on ordering edits in an epoch
		// of its own after it.
		epoch := e.newEpochID()
		if _, serr := sh.StartEpoch(epoch); serr != nil {
			return errors.Join(err, serr)
		}
		e.mu.Lock()
		if e.show == sh {
			e.epoch = epoch
		}
		e.mu.Unlock()
		if pl := e.pipelineFor(sh); pl != nil {
			pl.forget() // the ring no longer ends where the show does
		}
		e.bumpSeq()
		e.stats.adoptions.Add(1)
		e.log.Info("took the joiner's newer edits", "peer", p.id, "from_seq", mine.Seq+1, "to_seq", got.Seq, "epoch", epoch)
	}
	if err != nil {
		return fmt.Errorf("taking the edits of %s: %w", p.id, err)
	}
	if got.Seq < theirs.Seq {
		if got.Seq == mine.Seq {
			return errNoAdopt
		}
		// Part of them: still no loss, the rest goes the usual way.
		e.log.Warn("took only part of the joiner's edits", "peer", p.id, "seq", got.Seq, "their_seq", theirs.Seq)
	}
	return nil
}

// take waits until no other console's edits or changes are being taken in
// (adopt, merge), and holds that until release.
func (e *Engine) take(ctx context.Context) (release func(), err error) {
	if send(e.sched, e.taking, struct{}{}, time.Time{}, ctx.Done()) != 1 {
		return nil, ctx.Err()
	}
	return func() { <-e.taking }, nil
}

// takeEdits passes each batch of edits p sends to fn, until the empty batch
// that ends them (see sendNewer), within adoptTimeout.
func (e *Engine) takeEdits(ctx context.Context, p *peer, fn func([]wire.Edit) error) error {
	ctx, cancel := e.withDeadline(ctx, after(e.sched, adoptTimeout))
	defer cancel()
	for {
		m, err := p.receive(ctx)
		if err != nil {
			return err
		}
		batch, ok := m.(*wire.Edits)
		if !ok {
			return unexpected(m, "expected edits from %s", p.id)
		}
		if len(batch.Edits) == 0 {
			return nil
		}
		if err := fn(batch.Edits); err != nil {
			return err
		}
	}
}

// applyEdits applies a stream of edits durably, adopting the epochs of the
// copy they come from as the stream enters them.
func applyEdits(sh *store.Show, showID string, epochs []store.Epoch, edits []wire.Edit) error {
	for len(edits) > 0 {
		// One Apply per run of edits in the same epoch.
		n := 1
		for n < len(edits) && edits[n].Epoch == edits[0].Epoch {
			n++
		}
		if err := adoptEpochs(sh, showID, epochs, edits[0].Seq); err != nil {
			return err
		}
		run := make([]store.Edit, n)
		for i, w := range edits[:n] {
			run[i] = store.Edit{Seq: w.Seq, Epoch: w.Epoch, Op: store.Op{Key: w.Key, Value: w.Value, Delete: w.Delete}}
		}
		if err := sh.Apply(run); err != nil {
			return err
		}
		edits = edits[n:]
	}
	return nil
}

// sendNewer is the joiner's side of an adoption: every logged edit after
// seq, then an empty batch to say that is all.
func sendNewer(p stream, sh *store.Show, seq uint64) error {
	if logHolds(sh, seq) {
		batch := make([]wire.Edit, 0, 256)
		for next := seq; next < sh.Lineage().Seq; {
			var err error
			if batch, err = readLog(sh, next, batch[:0]); err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			if err := p.Send(&wire.Edits{Edits: batch}); err != nil {
				return err
			}
			next = batch[len(batch)-1].Seq
			clear(batch)
		}
	}
	return p.Send(&wire.Edits{})
}
