package replication

// Merge: a joiner whose copy holds edits the active's lacks, other than a
// plain extension of it (adopt.go): the two copies diverged after a common
// point (a split network, a forced stale launch, an active that logged off
// before a backup held its last edits), or they are two shows created under
// one name. Every object records the seq of its last write (store
// versions.go), so each side's changes since the common point are found
// from the objects themselves, however long the split and however little of
// the edit log is left. The joiner sends the state of every object it
// changed since then; the active takes each one it did not change itself.
// For an object both changed, the active's version stays and the key is
// reported; the joiner keeps its copy, with its versions, as an archive when
// the active's copy replaces it. Nothing is dropped silently: the merge is
// reported until an operator acknowledges it.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// Merge reports one merge, on the active that took the other copy's changes,
// or on the joiner whose replaced copy held objects the live show lacks.
type Merge struct {
	With      string    `json:"with"`      // the other console
	Time      time.Time `json:"time"`      //
	Common    uint64    `json:"common"`    // the last seq both copies shared (0: two shows of one name)
	Merged    int       `json:"merged"`    // objects taken from its copy
	Conflicts []string  `json:"conflicts"` // objects both changed: the active's version kept, the other archived
	// Unmatched counts the objects of this console's replaced copy that the
	// live show does not hold as that copy did (conflicts the active won,
	// and anything a merge could not bring in); Archive keeps them.
	Unmatched int    `json:"unmatched,omitempty"`
	Archive   string `json:"archive,omitempty"`
}

// maxReportedKeys bounds the keys one Merge lists.
const maxReportedKeys = 100

// merge takes into the active's copy the objects p's copy changed after
// common that this copy did not. Before it returns, the merged edits are
// acknowledged as the operator's edits are (durable here and on the
// backups the ack mode asks for): the joiner archives its copy as soon as
// it gets ours, and from then on ours is the only live copy holding them.
func (e *Engine) merge(ctx context.Context, p *peer, sh *store.Show, theirs store.Lineage, common uint64) error {
	release, err := e.take(ctx)
	if err != nil {
		return err
	}
	defer release()
	mine := sh.Lineage()
	e.log.Warn("the joiner's copy has changes ours lacks; merging", "peer", p.id,
		"common_seq", common, "their_seq", theirs.Seq, "our_seq", mine.Seq, "same_show", theirs.ShowID == mine.ShowID)
	defer p.expectReplies()()
	p.merging.Store(true)
	defer p.merging.Store(false)
	if err := p.conn.Send(&wire.JoinReply{Mode: wire.JoinMerge, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: common}); err != nil {
		return err
	}
	m := Merge{With: p.id, Common: common}
	var last uint64
	err = e.takeEdits(ctx, p, func(edits []wire.Edit) error {
		e.mu.RLock()
		active, epoch := e.role == RoleActive && e.show == sh, e.epoch
		e.mu.RUnlock()
		if !active {
			return e.errNotActive()
		}
		vs := make([]store.Version, len(edits))
		for i, ed := range edits {
			vs[i] = store.Version{Key: ed.Key, Seq: ed.Seq, Deleted: ed.Delete, Value: ed.Value}
		}
		res, err := sh.MergeIn(epoch, vs, common)
		if err != nil {
			return err
		}
		if n := len(res.Edits); n > 0 {
			last = res.Edits[n-1].Seq
			if pl := e.pipelineFor(sh); pl != nil {
				pl.forget() // the merged edits went past the pipeline: the streams read them from the log
			}
			e.bumpSeq()
		}
		m.Merged += len(res.Edits)
		for _, k := range res.Conflicts {
			if len(m.Conflicts) < maxReportedKeys {
				m.Conflicts = append(m.Conflicts, k)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("taking the changes of %s: %w", p.id, err)
	}
	if last > 0 {
		if err := e.waitConfirmed(ctx, last); err != nil {
			return fmt.Errorf("merged the changes of %s, but they are not confirmed: %w", p.id, err)
		}
	}
	m.Time = e.sched.Now().UTC()
	e.report(m)
	e.log.Warn("merged the joiner's copy", "peer", p.id, "common_seq", common, "merged", m.Merged,
		"conflicts", len(m.Conflicts), "conflicting", strings.Join(m.Conflicts, " "))
	return nil
}

// waitConfirmed waits until the edits through seq are acknowledged as the
// ack mode asks, as an operator's edit is.
func (e *Engine) waitConfirmed(ctx context.Context, seq uint64) error {
	s := &submission{seq: seq, at: e.sched.Now(), done: make(chan struct{})}
	e.waitAcked([]*submission{s})
	if e.sched.Wait(time.Time{}, s.done, ctx.Done()) == 1 {
		return ctx.Err()
	}
	return s.err
}

// report records a merge for the operator: it is listed in status and
// FAULT blinks until consolectl ack.
func (e *Engine) report(m Merge) {
	e.mu.Lock()
	e.merges = append(e.merges, m)
	e.mu.Unlock()
	e.notify()
}

// sendChanges is the joiner's side of a merge: the last state of every
// object this copy set or deleted after seq, each key once, then an empty
// Edits. The edit log gives them cheaply when it still reaches back to
// seq; else they come from the objects, which record the seq of their last
// write.
func sendChanges(p *peer, sh *store.Show, seq uint64) error {
	var batch []wire.Edit
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := p.conn.Send(&wire.Edits{Edits: batch})
		batch, size = batch[:0], 0
		return err
	}
	add := func(v store.Version) error {
		batch = append(batch, wire.Edit{Seq: v.Seq, Key: v.Key, Value: v.Value, Delete: v.Deleted})
		size += editSize(v.Key, v.Value)
		if size >= maxBatchBytes || len(batch) >= wire.MaxItems {
			return flush()
		}
		return nil
	}
	last := map[string]store.Version{}
	err := sh.EditsSince(seq, func(ed store.Edit) error {
		last[ed.Key] = store.Version{Key: ed.Key, Seq: ed.Seq, Deleted: ed.Delete, Value: ed.Value}
		return nil
	})
	switch {
	case err == nil:
		for _, k := range slices.Sorted(maps.Keys(last)) {
			if err := add(last[k]); err != nil {
				return err
			}
		}
	case errors.Is(err, store.ErrLogTruncated):
		if err := sh.ChangesSince(seq, add); err != nil {
			return err
		}
	default:
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return p.conn.Send(&wire.Edits{})
}

// Merges returns the merges not yet acknowledged.
func (e *Engine) Merges() []Merge {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Clone(e.merges)
}

// AckMerges acknowledges the merges reported so far (the FAULT LED stops
// blinking for them) and returns how many there were.
func (e *Engine) AckMerges() int {
	e.mu.Lock()
	n := len(e.merges)
	e.merges = nil
	e.mu.Unlock()
	if n > 0 {
		e.notify()
	}
	return n
}
