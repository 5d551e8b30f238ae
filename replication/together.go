package replication

// The whole show back after it stopped together (a power cut of the rig,
// every console killed at once): every copy's record names the others as
// the consoles that may have carried on, so the stale-launch guard refused
// every one of them and none could launch without force. Yet once every
// console a copy was with is back, logged off, and has said how far its
// own copy goes, nobody carried on: the copy that holds the most is the
// show. It launches (never forced), and the others wait for it and join
// it, giving it what only they hold (adoption or merge) as any joiner does.
//
// A console vouches for this only while everyone its own record names is
// connected to it and logged off, so a console that may have carried on
// after any of them (one that joined later, say) is never left out.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// togetherRefusal is a console that cannot give its copy (it may be
// outdated too) but all of whose companions are back: its lineage tells
// how far its copy goes. It is an ErrStale.
type togetherRefusal struct {
	id     string
	lin    store.Lineage
	reason string
}

func (r *togetherRefusal) Error() string { return ErrStale.Error() + ": " + r.reason }
func (r *togetherRefusal) Unwrap() error { return ErrStale }

// refuseTogether answers a CopyOnly join on a console whose own copy may be
// outdated: with its lineage when every console its record names is
// connected and logged off, else as before. It reports whether it answered.
func (e *Engine) refuseTogether(p *peer, show string, pres store.Presence) (bool, error) {
	for _, id := range pres.With {
		q := e.peer(id)
		if q == nil {
			return false, nil
		}
		if st := q.State(); st.Role != string(RoleOff) || st.Leaving {
			return false, nil
		}
	}
	sh, err := e.st.OpenShow(show, false)
	if err != nil {
		return false, nil
	}
	lin := sh.Lineage()
	sh.Close()
	reason := fmt.Sprintf("%s's copy of %q may be outdated too, and everyone it was with (%s) is back and logged off; it holds seq %d",
		e.id, show, strings.Join(pres.With, ", "), lin.Seq)
	return true, p.conn.Send(&wire.JoinReply{Mode: wire.JoinRefused, Reason: reason, ShowID: lin.ShowID, Epochs: toWireEpochs(lin.Epochs), Seq: lin.Seq})
}

// launchTogether decides a stale launch once every console of pres.With
// answered with a togetherRefusal. decided is false when not all did (the
// guard refuses as before). Otherwise err is nil when this console is to
// launch: it holds the most (then master, then lowest ID), or the one that
// does became active meanwhile (the launch joins it); else err says which
// console to launch first.
func (e *Engine) launchTogether(ctx context.Context, show string, pres store.Presence, answers []error) (decided bool, err error) {
	got := map[string]*togetherRefusal{}
	for _, a := range answers {
		var r *togetherRefusal
		if errors.As(a, &r) {
			got[r.id] = r
		}
	}
	for _, id := range pres.With {
		if got[id] == nil {
			return false, nil
		}
	}
	sh, err := e.st.OpenShow(show, false)
	if err != nil {
		return false, nil
	}
	mine := sh.Lineage()
	sh.Close()
	best := candidate{id: e.id, seq: mine.Seq, master: e.opts.Master}
	for _, r := range got {
		c := candidate{id: r.id, seq: r.lin.Seq}
		if p := e.peer(r.id); p != nil {
			c.master = p.State().Master
		}
		if c.ahead(best) {
			best = c
		}
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range got {
			if !yield(id) {
				return
			}
		}
	})
	if best.id == e.id {
		e.log.Info("every console this copy was on the show with is back and logged off, and none holds more: launching", "show", show, "seq", mine.Seq, "with", ids)
		return true, nil
	}
	e.log.Info("every console this copy was on the show with is back and logged off: waiting for the one holding the most to launch", "show", show, "launches_first", best.id, "its_seq", best.seq, "our_seq", mine.Seq)
	e.waitForActive(ctx, show, e.opts.JoinWait+e.opts.MasterGrace+e.opts.PeerTimeout)
	if e.activeFor(show) != nil {
		return true, nil
	}
	return true, fmt.Errorf("%w: this copy of %q may be outdated: everyone it was with (%s) is back, and %s holds the most (seq %d, this copy %d) but has not launched; launch %s first, or force (launch --force, or hold LAUNCH 3 s)",
		ErrStale, show, strings.Join(ids, ", "), best.id, best.seq, mine.Seq, best.id)
}
