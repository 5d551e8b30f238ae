package replication

import (
	"testing"
	"time"

	"consoled/replication/wire"
)

// The role decider, by table: each row is a situation of the README's
// "When consoles come and go" and "No show data lost", as one console sees
// it, and what that console must do. No network, no disk, no goroutines.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC)
	const show = "demo"
	// st builds a heard, connected peer with a State.
	st := func(id string, role Role, seq uint64, opts ...func(*wire.State)) peerView {
		s := wire.State{Console: id, Role: string(role), Show: show, Seq: seq}
		for _, o := range opts {
			o(&s)
		}
		return peerView{ID: id, Connected: true, Heard: true, State: s}
	}
	following := func(a string) func(*wire.State) { return func(s *wire.State) { s.Following = a } }
	master := func(s *wire.State) { s.Master = true }
	leaving := func(s *wire.State) { s.Leaving = true }
	otherShow := func(s *wire.State) { s.Show = "other" }
	lost := func(id string, at time.Time) peerView { return peerView{ID: id, LostAt: at} }
	fresh := func(id string) peerView { return peerView{ID: id, Connected: true} }
	// me builds this console's view: desk-2, a backup at seq 10 that has
	// just lost its active, link up.
	me := func(f func(*view)) view {
		v := view{Now: t0, ID: "desk-2", Role: RoleBackup, Show: show, Seq: 10, LinkUp: true,
			OrphanSince: t0, TakeoverTimeout: time.Second, Heartbeat: 100 * time.Millisecond}
		if f != nil {
			f(&v)
		}
		return v
	}
	for _, tc := range []struct {
		row  string
		v    view
		want action
	}{
		// When consoles come and go.
		{"logged off: nothing to decide", me(func(v *view) { v.Role, v.Show = RoleOff, "" }),
			action{Kind: stay}},
		{"a backup logs off: the active carries on", me(func(v *view) {
			v.Role, v.OrphanSince = RoleActive, time.Time{}
			v.Peers = []peerView{st("desk-1", RoleOff, 10), st("desk-3", RoleBackup, 10, following("desk-2"))}
		}), action{Kind: stay}},
		{"a backup follows the active", me(func(v *view) {
			v.Peers = []peerView{st("desk-1", RoleActive, 12), st("desk-3", RoleBackup, 12, following("desk-1"))}
		}), action{Kind: follow, Peer: "desk-1"}},
		{"following already: nothing to do", me(func(v *view) {
			v.Following = true
			v.Peers = []peerView{st("desk-1", RoleActive, 12)}
		}), action{Kind: stay}},
		{"the active logs off: the backup with the most edits takes over", me(func(v *view) {
			v.Seq = 12
			v.Peers = []peerView{st("desk-1", RoleActive, 12, leaving), st("desk-3", RoleBackup, 11)}
		}), action{Kind: takeOver}},
		{"the active logs off: a backup with fewer edits waits for the one with more", me(func(v *view) {
			v.Peers = []peerView{st("desk-1", RoleActive, 12, leaving), st("desk-3", RoleBackup, 12)}
		}), action{Kind: retry, At: t0.Add(time.Second)}},
		{"equal edits: the master goes first", me(func(v *view) {
			v.Peers = []peerView{st("desk-3", RoleBackup, 10, master)}
		}), action{Kind: retry, At: t0.Add(time.Second)}},
		{"equal edits, no master: the lowest ID goes first", me(func(v *view) {
			v.Peers = []peerView{st("desk-3", RoleBackup, 10)}
		}), action{Kind: takeOver}},
		{"equal edits, no master: a higher ID waits", me(func(v *view) {
			v.Peers = []peerView{st("desk-1", RoleBackup, 10)}
		}), action{Kind: retry, At: t0.Add(time.Second)}},
		{"the active crashed: its successor is chosen the same way", me(func(v *view) {
			v.Seq = 15
			v.Peers = []peerView{lost("desk-1", t0), st("desk-3", RoleBackup, 14)}
		}), action{Kind: takeOver}},
		{"a chosen successor that does not take over in time is overtaken", me(func(v *view) {
			v.Now = t0.Add(time.Second)
			v.Peers = []peerView{st("desk-3", RoleBackup, 20)}
		}), action{Kind: takeOver}},
		{"a backup still following an active: wait, most likely only this link broke", me(func(v *view) {
			v.Seq = 20
			v.Peers = []peerView{st("desk-3", RoleBackup, 12, following("desk-1"))}
		}), action{Kind: retry, At: t0.Add(time.Second)}},
		{"... but not for ever", me(func(v *view) {
			v.Seq, v.Now = 20, t0.Add(2*time.Second)
			v.Peers = []peerView{st("desk-3", RoleBackup, 12, following("desk-1"))}
		}), action{Kind: takeOver}},
		{"a backup still taking its copy goes after any backup with a whole one", me(func(v *view) {
			v.Role, v.Seq = RoleSyncing, 50
			v.Peers = []peerView{st("desk-3", RoleBackup, 12)}
		}), action{Kind: retry, At: t0.Add(time.Second)}},
		{"backups of another show, or leaving, do not count", me(func(v *view) {
			v.Peers = []peerView{st("desk-1", RoleBackup, 30, otherShow), st("desk-0", RoleBackup, 30, leaving)}
		}), action{Kind: takeOver}},
		{"a console that rejoins follows the active (no preemption, the master neither)", me(func(v *view) {
			v.Master, v.Seq, v.OrphanSince = true, 99, time.Time{}
			v.Peers = []peerView{st("desk-3", RoleActive, 12)}
		}), action{Kind: follow, Peer: "desk-3"}},
		{"its own cable pulled: an island's backup takes over at once", me(func(v *view) {
			v.LinkUp, v.Peers = false, []peerView{lost("desk-1", t0), lost("desk-3", t0)}
		}), action{Kind: takeOver}},
		{"the cable is back: an active meets one further ahead and steps down", me(func(v *view) {
			v.Role, v.OrphanSince = RoleActive, time.Time{}
			v.Peers = []peerView{st("desk-1", RoleActive, 11)}
		}), action{Kind: stepDown, Peer: "desk-1"}},
		{"the cable is back: an active meets one behind it and stays", me(func(v *view) {
			v.Role, v.OrphanSince = RoleActive, time.Time{}
			v.Peers = []peerView{st("desk-1", RoleActive, 9)}
		}), action{Kind: stay}},
		{"two actives with equal edits: the master stays", me(func(v *view) {
			v.Role, v.OrphanSince, v.Master = RoleActive, time.Time{}, true
			v.Peers = []peerView{st("desk-1", RoleActive, 10)}
		}), action{Kind: stay}},
		{"two actives met: a backup follows the one that is to stay", me(func(v *view) {
			v.Peers = []peerView{st("desk-1", RoleActive, 9), st("desk-3", RoleActive, 11)}
		}), action{Kind: follow, Peer: "desk-3"}},
		{"stepped down, its join broke, the winner reconnected and not heard yet: wait for its State", me(func(v *view) {
			v.Role, v.SteppedFor = RoleSyncing, "desk-1"
			v.Peers = []peerView{fresh("desk-1")}
		}), action{Kind: retry, At: t0.Add(100 * time.Millisecond)}},
		{"stepped down, the winner reconnecting: never take the show back meanwhile", me(func(v *view) {
			v.Role, v.SteppedFor, v.Seq = RoleSyncing, "desk-1", 99
			v.Peers = []peerView{lost("desk-1", t0.Add(-200*time.Millisecond))}
		}), action{Kind: retry, At: t0.Add(100 * time.Millisecond)}},
		{"stepped down, the winner gone for TakeoverTimeout: the usual choice", me(func(v *view) {
			v.Role, v.SteppedFor = RoleSyncing, "desk-1"
			v.Peers = []peerView{lost("desk-1", t0.Add(-time.Second))}
		}), action{Kind: takeOver}},
		{"stepped down, the winner no longer active: the usual choice", me(func(v *view) {
			v.Role, v.SteppedFor = RoleSyncing, "desk-1"
			v.Peers = []peerView{st("desk-1", RoleOff, 20)}
		}), action{Kind: takeOver}},
		{"stepped down, the winner active again: join it", me(func(v *view) {
			v.Role, v.SteppedFor = RoleSyncing, "desk-1"
			v.Peers = []peerView{st("desk-1", RoleActive, 20)}
		}), action{Kind: follow, Peer: "desk-1"}},
		{"a peer connected a moment ago, not heard yet, is not counted", me(func(v *view) {
			v.Peers = []peerView{fresh("desk-1")}
		}), action{Kind: takeOver}},
	} {
		t.Run(tc.row, func(t *testing.T) {
			got := decide(tc.v)
			if got.Kind != tc.want.Kind || got.Peer != tc.want.Peer || !got.At.Equal(tc.want.At) {
				t.Errorf("decide = %v, want %v", got, tc.want)
			}
		})
	}
}

// The order of consoles for the active role, as a property: it is a strict
// total order on distinct consoles, and the one with more edits always
// goes first.
func TestAheadIsATotalOrder(t *testing.T) {
	cs := []candidate{
		{"desk-1", 5, false}, {"desk-2", 5, true}, {"desk-3", 5, false}, {"desk-1", 6, false}, {"desk-4", 4, true},
	}
	for _, a := range cs {
		if a.ahead(a) {
			t.Errorf("%v ahead of itself", a)
		}
		for _, b := range cs {
			if a != b && a.ahead(b) == b.ahead(a) {
				t.Errorf("%v and %v: not exactly one ahead", a, b)
			}
			if a.seq > b.seq && !a.ahead(b) {
				t.Errorf("%v has more edits than %v, yet is not ahead", a, b)
			}
			for _, c := range cs {
				if a.ahead(b) && b.ahead(c) && !a.ahead(c) {
					t.Errorf("not transitive: %v > %v > %v", a, b, c)
				}
			}
		}
	}
}
