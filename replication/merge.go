package replication

// Divergence merge: a joiner whose copy has edits the active lacks, and the
// other way round (a split network, a forced stale launch). The objects the
// joiner alone changed since the common point become edits of the active;
// for objects both changed the active's version stays, and the joiner's copy
// (with its versions) is archived when it is replaced. Nothing is dropped
// silently: the merge is reported until an operator acknowledges it.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// Merge reports one divergence merge.
type Merge struct {
	With      string    `json:"with"`      // the console whose copy was merged
	Time      time.Time `json:"time"`      //
	Common    uint64    `json:"common"`    // the last seq both copies shared
	Merged    int       `json:"merged"`    // objects taken from its copy
	Conflicts []string  `json:"conflicts"` // objects both changed: ours kept, theirs archived on With
}

// mergeOpsLimit bounds one Append of merged objects.
const mergeOpsLimit = 1024

// merge takes into the active's copy the objects only p's copy changed
// after common. Both logs must still reach back to common (else errNoAdopt:
// the join goes on by archiving p's copy whole).
func (e *Engine) merge(ctx context.Context, p *peer, sh *store.Show, theirs store.Lineage, common uint64) error {
	if !logHolds(sh, common) {
		return errNoAdopt
	}
	mine := sh.Lineage()
	e.log.Warn("joiner's copy diverged from ours; merging", "peer", p.id, "common_seq", common, "their_seq", theirs.Seq, "our_seq", mine.Seq)
	end := p.expectReplies()
	defer end()
	if err := p.conn.Send(&wire.JoinReply{Mode: wire.JoinAdopt, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: common}); err != nil {
		return err
	}
	// The last change of each object on their side, in seq order.
	last := map[string]store.Op{}
	got := uint64(0)
	err := takeEdits(ctx, p, func(edits []wire.Edit) error {
		for _, ed := range edits {
			last[ed.Key] = store.Op{Key: ed.Key, Value: bytes.Clone(ed.Value), Delete: ed.Delete}
			got = ed.Seq
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("taking the edits of %s: %w", p.id, err)
	}
	if got < theirs.Seq {
		return errNoAdopt // its log no longer reaches back to common
	}

	// Ours are read, and theirs written, with no edit ordered in between:
	// an edit made here meanwhile must not be overwritten by theirs.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.role != RoleActive || e.show != sh {
		return e.errNotActive()
	}
	ours := map[string]bool{}
	if err := sh.EditsSince(common, func(ed store.Edit) error { ours[ed.Key] = true; return nil }); err != nil {
		return err
	}
	var ops []store.Op
	var conflicts []string
	for _, key := range slices.Sorted(maps.Keys(last)) {
		if ours[key] {
			if cur, found, _ := sh.Get(key); !sameOp(last[key], cur, found) {
				conflicts = append(conflicts, key)
			}
			continue
		}
		ops = append(ops, last[key])
	}
	merged := len(ops)
	for len(ops) > 0 {
		n := min(len(ops), mergeOpsLimit)
		if _, err := sh.Append(ops[:n]); err != nil {
			return fmt.Errorf("merging the edits of %s: %w", p.id, err)
		}
		ops = ops[n:]
	}
	if pl := e.pipelineFor(sh); pl != nil {
		pl.forget() // the merged edits went past the pipeline
	}
	e.bumpSeq()
	m := Merge{With: p.id, Time: e.clock.Now().UTC(), Common: common, Merged: merged, Conflicts: conflicts}
	e.merges = append(e.merges, m)
	e.log.Warn("merged a diverged copy", "peer", p.id, "common_seq", common, "merged", m.Merged,
		"conflicts", len(conflicts), "conflicting", strings.Join(conflicts, " "))
	e.notify()
	return nil
}

// sameOp reports whether their change leaves the object as ours is: the
// same value set on both sides, or deleted on both, is no conflict.
func sameOp(theirs store.Op, cur []byte, found bool) bool {
	if theirs.Delete {
		return !found
	}
	return found && bytes.Equal(theirs.Value, cur)
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
