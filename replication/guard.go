package replication

// The stale-launch guard (rule 6): a copy remembers which consoles were on
// the show with it (store.Presence); one that left while they carried on
// may be outdated, and launching it first would make its old data the show.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"consoled/replication/store"
)

// ErrStale: a launch refused because the copy may be outdated. It wraps
// ErrRefused.
var ErrStale = fmt.Errorf("%w: stale copy", ErrRefused)

// onShowWith lists the connected consoles logged on to show, other than
// this one.
func (e *Engine) onShowWith(show string) []string {
	var out []string
	for _, p := range e.connected() {
		if st := p.State(); st.Show == show && st.Role != string(RoleOff) && !st.Leaving {
			out = append(out, p.id)
		}
	}
	return out
}

// presenceNow is the record this console would leave if it went now: the
// consoles on the show with it. A console that vanished while the link is
// up crashed or lost its own link: this one carried on, so it is dropped.
// Without the link this console cannot tell, so it keeps everyone it was
// with: they may be carrying on.
func (e *Engine) presenceNow(show string, prev store.Presence) []string {
	with := e.onShowWith(show)
	if !e.linkUp.Load() {
		for _, id := range prev.With {
			if !slices.Contains(with, id) {
				with = append(with, id)
			}
		}
	}
	slices.Sort(with)
	return with
}

// masterNow is the master console of the show as far as this one knows.
func (e *Engine) masterNow(show string, prev store.Presence) string {
	if e.opts.Master {
		return e.id
	}
	for _, p := range e.connected() {
		if st := p.State(); st.Master && st.Show == show {
			return p.id
		}
	}
	return prev.Master
}

// waitForMaster is rule 5's helper: a launch that finds no active waits up
// to MasterGrace for the show's master console to launch first.
func (e *Engine) waitForMaster(ctx context.Context, show string) {
	if e.opts.MasterGrace <= 0 || e.opts.Master {
		return
	}
	pres, err := e.st.Presence(show)
	if err != nil || pres.Master == "" || pres.Master == e.id {
		return
	}
	e.log.Info("waiting for the master console to launch the show first", "show", show, "master", pres.Master, "grace", e.opts.MasterGrace)
	e.mu.Lock()
	e.waitingFor = pres.Master
	e.mu.Unlock()
	e.notify()
	e.waitForActive(ctx, show, e.opts.MasterGrace)
	e.mu.Lock()
	e.waitingFor = ""
	e.mu.Unlock()
	e.notify()
}

// updatePresence records, while logged on, who is on the show with this
// console, so that a crash leaves a true record.
func (e *Engine) updatePresence(sh *store.Show) {
	e.presMu.Lock()
	defer e.presMu.Unlock()
	want := store.Presence{With: e.presenceNow(sh.Name(), e.pres), Master: e.masterNow(sh.Name(), e.pres)}
	if e.presShow == sh.Name() && e.pres.Equal(want) {
		return
	}
	if err := e.st.SetPresence(sh.Name(), want); err != nil {
		e.log.Error("cannot record who is on the show", "show", sh.Name(), "err", err)
		return
	}
	e.pres, e.presShow = want, sh.Name()
}

// recordLeaving writes the record of a log-off; it reports whether this
// console was the last server of the show, whose copy is then the master
// copy.
//
// unshared counts the edits this console acknowledged that no backup held
// when it left (handover.go): the record keeps it for the next launch.
func (e *Engine) recordLeaving(show string, unshared uint64) bool {
	e.presMu.Lock()
	defer e.presMu.Unlock()
	prev := e.pres
	if e.presShow != show {
		prev = store.Presence{}
	}
	p := store.Presence{With: e.presenceNow(show, prev), Left: e.sched.Now().UTC(), Master: e.masterNow(show, prev), Unshared: unshared}
	p.MasterCopy = len(p.With) == 0
	if err := e.st.SetPresence(show, p); err != nil {
		e.log.Error("cannot record the log-off", "show", show, "err", err)
	}
	e.pres, e.presShow = store.Presence{}, ""
	if p.MasterCopy {
		e.log.Info("last server of the show to log off: this copy is the master copy", "show", show)
	} else {
		e.log.Info("logged off while others carry on: this copy may become outdated", "show", show, "carrying_on", p.With)
	}
	return p.MasterCopy
}

// checkStale is the guard, run by a launch that found no active to join.
// A copy that may be outdated is brought up to date from a console that
// carried on, if one is running; else the launch is refused.
func (e *Engine) checkStale(ctx context.Context, show string) error {
	pres, err := e.st.Presence(show)
	if err != nil {
		return fmt.Errorf("replication: launch %s: %w", show, err)
	}
	if !pres.Outdated() {
		return nil
	}
	left := "it crashed or lost its link"
	if !pres.Left.IsZero() {
		left = "it logged off at " + pres.Left.Local().Format(time.DateTime)
	}
	// The consoles that carried on first, then any other that is running:
	// one that joined the show after this console left holds it too.
	var tried []string
	var answers []error
	ask := slices.Clone(pres.With)
	for _, p := range e.connected() {
		if !slices.Contains(ask, p.id) {
			ask = append(ask, p.id)
		}
	}
	for _, id := range ask {
		p := e.peer(id)
		if p == nil {
			continue
		}
		err := e.fetchCopy(ctx, p, show)
		if err == nil {
			e.setStale(false)
			return nil
		}
		level := slog.LevelWarn
		if errors.Is(err, ErrStale) || errors.Is(err, net.ErrClosed) || !p.alive() {
			// It has no newer copy either, or the connection ended under
			// the ask (two that dialed each other at once keep one; the
			// log says so where it ends): routine while the consoles of a
			// show come back together. The refusal below says what counts.
			level = slog.LevelInfo
		}
		e.log.Log(ctx, level, "could not take the newer copy", "show", show, "from", id, "err", err)
		tried = append(tried, err.Error())
		answers = append(answers, err)
	}
	if e.activeFor(show) != nil {
		// One launched while this console asked: the launch joins it.
		e.setStale(false)
		return nil
	}
	if decided, err := e.launchTogether(ctx, show, pres, answers); decided { // together.go
		e.setStale(err != nil)
		return err
	}
	e.setStale(true)
	if pres.Unshared > 0 {
		// Refused or not, the operator must know the copy is not only old.
		left += fmt.Sprintf(" holding %d edits no other console confirmed (they merge into the show when this console joins its active)", pres.Unshared)
	}
	if on := e.onShowWith(show); len(on) > 0 {
		// They are on the show, following an active this console cannot
		// reach (yet: links just plugged back take a moment to connect).
		verb := "are"
		if len(on) == 1 {
			verb = "is"
		}
		return fmt.Errorf("%w: this copy of %q may be outdated: %s carried on after %s, and %s %s on the show with an active this console cannot reach yet; launch again once it can, or force (launch --force, or hold LAUNCH 3 s)",
			ErrStale, show, strings.Join(pres.With, ", "), left, strings.Join(on, ", "), verb)
	}
	if len(tried) > 0 {
		return fmt.Errorf("%w: this copy of %q may be outdated: %s carried on after %s, and no newer copy could be taken (%s); force (launch --force, or hold LAUNCH 3 s) to launch it anyway",
			ErrStale, show, strings.Join(pres.With, ", "), left, strings.Join(tried, "; "))
	}
	return fmt.Errorf("%w: this copy of %q may be outdated: %s carried on after %s, and none of them can be reached; start one of them first, or force (launch --force, or hold LAUNCH 3 s)",
		ErrStale, show, strings.Join(pres.With, ", "), left)
}

func (e *Engine) setStale(on bool) {
	e.mu.Lock()
	changed := e.stale != on
	e.stale = on
	e.mu.Unlock()
	if changed {
		e.notify()
	}
}

// peer returns the connected peer id.
func (e *Engine) peer(id string) *peer {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	return e.net.peers[id]
}
