package replication

// The role decider: what a console logged on to a show does next, from
// what it sees of itself and of the others. It is pure (no sockets, no
// store, no clock of its own, no goroutines): the engine builds a view,
// decides, and carries the action out (failover.go). Every console decides
// from the same States (heartbeats), so they agree without a vote; there is
// no quorum, because a live show must go on with any one console left.

import (
	"fmt"
	"time"

	"consoled/replication/wire"
)

// view is what the decider sees.
type view struct {
	Now    time.Time
	ID     string
	Role   Role
	Show   string // "" when logged off
	Seq    uint64
	Master bool
	LinkUp bool
	// Following: a follow (a join, or applying the active's stream) is
	// under way; it ends on its own when its active goes.
	Following bool
	// OrphanSince is when this backup lost its active (set by the engine
	// before deciding; zero while it has one).
	OrphanSince time.Time
	// SteppedFor is the active this console stepped down for, until it
	// joined it.
	SteppedFor string
	// Peers are the consoles connected now or lately, sorted by ID.
	Peers []peerView

	TakeoverTimeout time.Duration
	Heartbeat       time.Duration
}

// peerView is another console as the decider sees it.
type peerView struct {
	ID        string
	Connected bool
	Heard     bool       // a State arrived on the current connection
	State     wire.State // the last one (meaningful when Heard)
	LostAt    time.Time  // when the last connection ended (when not Connected)
}

type actionKind int

const (
	stay     actionKind = iota // nothing to change
	follow                     // follow (join) Peer, the active of the show
	takeOver                   // become the active of the show, with a new epoch
	stepDown                   // another active, further ahead, serves the show: hand it the show and join it
	retry                      // nothing now; decide again at At
)

func (k actionKind) String() string {
	return [...]string{"stay", "follow", "take over", "step down", "retry"}[k]
}

// action is what the decider says to do.
type action struct {
	Kind actionKind
	Peer string    // follow, step down for
	At   time.Time // retry
	Why  string
}

func (a action) String() string {
	switch a.Kind {
	case follow, stepDown:
		return fmt.Sprintf("%s %s (%s)", a.Kind, a.Peer, a.Why)
	case retry:
		return fmt.Sprintf("%s at %s (%s)", a.Kind, a.At.Format("15:04:05.000"), a.Why)
	}
	return fmt.Sprintf("%s (%s)", a.Kind, a.Why)
}

// candidate is a console as these decisions see it.
type candidate struct {
	id     string
	seq    uint64
	master bool
}

func peerCandidate(st wire.State) candidate {
	return candidate{id: st.Console, seq: st.Seq, master: st.Master}
}

// ahead orders consoles for the active role: the most up to date first,
// then the master, then the lower ID. It picks the successor among backups
// (the one with the highest seq holds every edit the active acknowledged,
// since each went to at least one backup and backups apply in order), and
// the active that stays when two meet (a strict prefix has the lower seq,
// so a copy is never replaced by one it contains).
//
// Two actives meeting each compare their own live seq with the other's last
// heartbeat, which is never ahead of that console's live seq; so they can
// never both step down, and once the heartbeats have arrived exactly one
// does.
func (c candidate) ahead(o candidate) bool {
	switch {
	case c.seq != o.seq:
		return c.seq > o.seq
	case c.master != o.master:
		return c.master
	}
	return c.id < o.id
}

func (v view) self() candidate { return candidate{id: v.ID, seq: v.Seq, master: v.Master} }

// serves reports whether p says it is the active of show.
func (p peerView) serves(show string) bool {
	return p.Connected && p.Heard && p.State.Role == string(RoleActive) && p.State.Show == show && !p.State.Leaving
}

// activeFor returns the connected console that is active for show; when
// two are (a split network meeting again), the one that is to stay.
func (v view) activeFor(show string) (peerView, bool) {
	var best peerView
	found := false
	for _, p := range v.Peers {
		if p.serves(show) && (!found || peerCandidate(p.State).ahead(peerCandidate(best.State))) {
			best, found = p, true
		}
	}
	return best, found
}

func (v view) peer(id string) (peerView, bool) {
	for _, p := range v.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return peerView{}, false
}

// decide says what the console does next.
func decide(v view) action {
	if v.Show == "" {
		return action{Kind: stay, Why: "logged off"}
	}
	switch v.Role {
	case RoleActive:
		if w, ok := v.activeFor(v.Show); ok && peerCandidate(w.State).ahead(v.self()) {
			return action{Kind: stepDown, Peer: w.ID, Why: fmt.Sprintf("%s is active for the show too, further ahead (seq %d, ours %d)", w.ID, w.State.Seq, v.Seq)}
		}
		return action{Kind: stay, Why: "active"}
	case RoleBackup, RoleSyncing:
		if v.Following {
			return action{Kind: stay, Why: "following the active"}
		}
		if w, ok := v.activeFor(v.Show); ok {
			return action{Kind: follow, Peer: w.ID, Why: w.ID + " is the active"}
		}
		if a, wait := v.waitForWinner(); wait {
			return a
		}
		return v.elect()
	}
	return action{Kind: stay, Why: string(v.Role)}
}

// waitForWinner keeps a console that stepped down for another from taking
// the show back while that one can be reached: its copy is behind, and the
// edits it would take make the copies diverge further. It joins again
// instead. Only once the winner has been out of reach for TakeoverTimeout,
// or says it no longer is the active, does the usual choice apply.
func (v view) waitForWinner() (action, bool) {
	if v.SteppedFor == "" {
		return action{}, false
	}
	p, ok := v.peer(v.SteppedFor)
	switch {
	case ok && p.Connected && !p.Heard:
		return action{Kind: retry, At: v.Now.Add(v.Heartbeat), Why: p.ID + " connected again a moment ago: its first State says what it is"}, true
	case ok && p.Connected:
		return action{}, false // it is not the active any more (activeFor saw none)
	case ok && v.LinkUp && v.Now.Sub(p.LostAt) < v.TakeoverTimeout:
		at := p.LostAt.Add(v.TakeoverTimeout)
		if next := v.Now.Add(v.Heartbeat); next.Before(at) {
			at = next
		}
		return action{Kind: retry, At: at, Why: "stepped down for " + p.ID + ", which may come back"}, true
	}
	return action{}, false
}

// elect runs on a backup that follows no active and sees none: the backups
// of the show that are in the same situation pick the first by ahead, which
// takes over with a new epoch; the others then follow it. While another
// backup still follows an active, that active is most likely alive and
// this console only lost its connection to it (which the dialer restores
// at once), or the other backup has not yet noticed the active went (it
// will within a heartbeat, and say so). Either way this console waits, up
// to TakeoverTimeout, as it waits for a chosen successor that does not take
// over (hung, or seeing the network differently); then it takes over
// itself: two actives are resolved when they meet, an operator is never
// left without one.
func (v view) elect() action {
	best := v.self()
	// A console still receiving a copy holds only its old one: any backup
	// with a complete copy goes first.
	bestComplete := v.Role == RoleBackup
	var stillFollowing string
	for _, p := range v.Peers {
		st := p.State
		if !p.Connected || !p.Heard || st.Role != string(RoleBackup) || st.Show != v.Show || st.Leaving {
			continue
		}
		if st.Following != "" {
			stillFollowing = st.Console
			continue
		}
		if c := peerCandidate(st); !bestComplete || c.ahead(best) {
			best, bestComplete = c, true
		}
	}
	if stillFollowing == "" && best.id == v.ID {
		return action{Kind: takeOver, Why: "the most up to date of the backups without an active"}
	}
	deadline := v.OrphanSince.Add(v.TakeoverTimeout)
	if v.Now.Before(deadline) {
		why := best.id + " is to take over"
		if stillFollowing != "" {
			why = stillFollowing + " still follows an active"
		}
		return action{Kind: retry, At: deadline, Why: why}
	}
	why := "no other console took over in time (" + best.id + " was to)"
	if stillFollowing != "" {
		why = stillFollowing + " still follows an active nobody here sees"
	}
	return action{Kind: takeOver, Why: why}
}
