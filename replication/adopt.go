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

// adoptTimeout bounds how long the active waits for a joiner's edits while
// it takes no edits of its own.
const adoptTimeout = 30 * time.Second

// adopt takes the edits after the active's seq from p, whose copy's history
// has the active's as a strict prefix, and starts a new epoch after them.
// The active orders no edits meanwhile (it holds e.mu), so its copy stays a
// prefix of the joiner's until the edits are in.
func (e *Engine) adopt(ctx context.Context, p *peer, sh *store.Show, theirs store.Lineage) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	mine := sh.Lineage()
	if e.role != RoleActive || e.show != sh {
		return e.errNotActive()
	}
	if Compare(theirs, mine).Relation != BPrefix {
		return errNoAdopt // an edit of ours committed since the join came in
	}
	e.log.Info("joiner holds a newer copy of the show; taking its edits", "peer", p.id, "their_seq", theirs.Seq, "our_seq", mine.Seq)
	defer p.expectReplies()()
	if err := p.conn.Send(&wire.JoinReply{Mode: wire.JoinAdopt, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq}); err != nil {
		return err
	}
	err := takeEdits(ctx, p, func(edits []wire.Edit) error {
		if edits[0].Seq != sh.Lineage().Seq+1 {
			return fmt.Errorf("edits from %s start at seq %d, want %d", p.id, edits[0].Seq, sh.Lineage().Seq+1)
		}
		return applyEdits(sh, theirs.ShowID, theirs.Epochs, edits)
	})
	if err != nil {
		return fmt.Errorf("taking the edits of %s: %w", p.id, err)
	}
	got := sh.Lineage()
	if got.Seq < theirs.Seq {
		if got.Seq == mine.Seq {
			return errNoAdopt
		}
		// Part of them: still no loss, the rest goes the usual way.
		e.log.Warn("took only part of the joiner's edits", "peer", p.id, "seq", got.Seq, "their_seq", theirs.Seq)
	}
	// This console goes on ordering edits, in an epoch of its own after the
	// adopted ones.
	epoch := newEpochID()
	if _, err := sh.StartEpoch(epoch); err != nil {
		return err
	}
	if pl := e.pipelineFor(sh); pl != nil {
		pl.forget() // the ring no longer ends where the show does
	}
	e.bumpSeq()
	e.stats.adoptions.Add(1)
	e.log.Info("took the joiner's newer edits", "peer", p.id, "from_seq", mine.Seq+1, "to_seq", got.Seq, "epoch", epoch)
	return nil
}

// takeEdits passes each batch of edits p sends to fn, until the empty batch
// that ends them (see sendNewer).
func takeEdits(ctx context.Context, p *peer, fn func([]wire.Edit) error) error {
	ctx, cancel := context.WithTimeout(ctx, adoptTimeout)
	defer cancel()
	for {
		m, err := p.receive(ctx)
		if err != nil {
			return err
		}
		batch, ok := m.(*wire.Edits)
		if !ok {
			return fmt.Errorf("expected edits from %s, got %s", p.id, msgName(m))
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
func sendNewer(p *peer, sh *store.Show, seq uint64) error {
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
			if err := p.conn.Send(&wire.Edits{Edits: batch}); err != nil {
				return err
			}
			next = batch[len(batch)-1].Seq
			clear(batch)
		}
	}
	return p.conn.Send(&wire.Edits{})
}
