package replication

// Taking a newer copy before launching (rule 6): a console whose copy may be
// outdated, and that sees a console which carried on running but logged
// off, takes that console's copy first and then launches with it.

import (
	"context"
	"errors"
	"fmt"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// serveCopy answers a CopyOnly join on a console that is not on the show:
// its copy, whole or the edits the asker lacks, then an empty Edits to end.
func (e *Engine) serveCopy(ctx context.Context, p *peer, j *wire.Join) error {
	refuse := func(format string, args ...any) error {
		return p.conn.Send(&wire.JoinReply{Mode: wire.JoinRefused, Reason: fmt.Sprintf(format, args...)})
	}
	e.mu.RLock()
	on := e.show != nil && e.show.Name() == j.Show
	live := on && e.role == RoleBackup && e.following != nil && !e.syncing
	cur := e.show
	e.mu.RUnlock()
	if on && j.FromBackup {
		if !live {
			return refuse("%s is not a live backup of %q", e.id, j.Show)
		}
		return e.serveBackupCopy(ctx, p, cur)
	}
	if on {
		return refuse("%s is on show %q: join it instead", e.id, j.Show)
	}
	pres, err := e.st.Presence(j.Show)
	if err != nil {
		return refuse("%s cannot read its record of %q: %v", e.id, j.Show, err)
	}
	if pres.Outdated() {
		if answered, err := e.refuseTogether(p, j.Show, pres); answered { // together.go
			return err
		}
		// Its copy would not do either: the asker is to look further.
		return refuse("%s's copy of %q may be outdated too: %v carried on after it left", e.id, j.Show, pres.With)
	}
	sh, err := e.st.OpenShow(j.Show, false)
	if errors.Is(err, store.ErrNoShow) {
		return refuse("%s has no copy of %q", e.id, j.Show)
	}
	if err != nil {
		return refuse("%s cannot open its copy of %q: %v", e.id, j.Show, err)
	}
	defer sh.Close()
	if err := sh.Check(); err != nil {
		return refuse("%s cannot send its copy of %q: %v", e.id, j.Show, err)
	}
	theirs := store.Lineage{ShowID: j.ShowID, Epochs: fromWireEpochs(j.Epochs), Seq: j.Seq}
	mine := sh.Lineage()
	mode := wire.JoinSnapshot
	switch cmp := Compare(theirs, mine); {
	case cmp.Relation == Same:
		mode = wire.JoinUpToDate
	case cmp.Relation == APrefix && logHolds(sh, j.Seq):
		mode = wire.JoinCatchUp
	case cmp.Relation != APrefix:
		// Only a newer copy is worth taking: an older one would replace
		// edits, a diverged one is merged when the two meet as active and
		// backup.
		return refuse("%s's copy of %q is not newer (%s)", e.id, j.Show, cmp.Relation.Between(p.id, e.id))
	}
	e.log.Info("sending our copy to a console about to launch", "peer", p.id, "show", j.Show, "mode", joinModeName(mode), "our_seq", mine.Seq)
	if err := p.conn.Send(&wire.JoinReply{Mode: mode, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq}); err != nil {
		return err
	}
	switch mode {
	case wire.JoinSnapshot:
		if _, err := e.copier().sendSnapshot(ctx, p, sh); err != nil {
			return fmt.Errorf("copy to %s: %w", p.id, err)
		}
		e.stats.fullSyncs.Add(1)
		return nil
	case wire.JoinCatchUp:
		return sendNewer(p, sh, j.Seq)
	}
	return nil
}

// serveBackupCopy is a live backup sending its copy of the show to a
// joiner the active sent here (JoinElsewhere): the copy is a prefix of the
// active's, and the joiner joins the active for the rest afterwards.
func (e *Engine) serveBackupCopy(ctx context.Context, p *peer, sh *store.Show) error {
	mine := sh.Lineage()
	e.log.Info("sending our copy to a joiner, for the active", "peer", p.id, "show", sh.Name(), "our_seq", mine.Seq)
	if err := p.conn.Send(&wire.JoinReply{Mode: wire.JoinSnapshot, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq}); err != nil {
		return err
	}
	if _, err := e.copier().sendSnapshot(ctx, p, sh); err != nil {
		return fmt.Errorf("copy to %s: %w", p.id, err)
	}
	e.stats.fullSyncs.Add(1)
	return nil
}

// fetchCopy replaces this console's copy of show (not open) with p's newer
// one, archiving it unless it is a strict prefix of p's, and records that
// the copy is now as current as p's.
func (e *Engine) fetchCopy(ctx context.Context, p *peer, show string) error {
	sh, err := e.st.OpenShow(show, true)
	if err != nil {
		return err
	}
	mine := sh.Lineage()
	closed := false
	defer func() {
		if !closed {
			sh.Close()
		}
	}()
	defer p.expectReplies()()
	if err := p.conn.Send(&wire.Join{Show: show, ShowID: mine.ShowID, Epochs: toWireEpochs(mine.Epochs), Seq: mine.Seq, CopyOnly: true}); err != nil {
		return err
	}
	m, err := p.receive(ctx)
	if err != nil {
		return err
	}
	reply, ok := m.(*wire.JoinReply)
	if !ok {
		return unexpected(m, "expected a reply from %s", p.id)
	}
	e.log.Info("taking a newer copy before launching", "show", show, "from", p.id, "mode", joinModeName(reply.Mode), "their_seq", reply.Seq, "our_seq", mine.Seq)
	switch reply.Mode {
	case wire.JoinRefused:
		if reply.ShowID != "" { // outdated too, everyone it was with back (together.go)
			lin := store.Lineage{ShowID: reply.ShowID, Epochs: fromWireEpochs(reply.Epochs), Seq: reply.Seq}
			return &togetherRefusal{id: p.id, lin: lin, reason: reply.Reason}
		}
		return fmt.Errorf("%w: %s", ErrStale, reply.Reason)
	case wire.JoinUpToDate:
	case wire.JoinCatchUp:
		epochs := fromWireEpochs(reply.Epochs)
		if err := e.takeEdits(ctx, p, func(edits []wire.Edit) error { return applyEdits(sh, reply.ShowID, epochs, edits) }); err != nil {
			return fmt.Errorf("taking the edits of %s: %w", p.id, err)
		}
	case wire.JoinSnapshot:
		e.setSyncing(true)
		defer e.setSyncing(false)
		dir, lin, err := e.copier().receiveSnapshot(ctx, p, show)
		if err != nil {
			return err
		}
		closed = true
		if err := sh.Close(); err != nil {
			return err
		}
		if _, err := e.st.Install(show, dir, e.installOptions(mine, lin, p.id)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unexpected reply mode %d from %s", reply.Mode, p.id)
	}
	// As current as p's: p's record said no one carried on after it.
	return e.st.SetPresence(show, store.Presence{})
}
