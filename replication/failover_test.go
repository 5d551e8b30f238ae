package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// Two actives meeting compare their own live seq with the other's last
// heartbeat (never ahead of its live seq): whatever the heartbeats lag,
// they never both step down, and with fresh heartbeats exactly one does.
func TestTwoActivesNeverBothStepDown(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		x := candidate{id: "desk-1", seq: r.Uint64N(20), master: r.IntN(2) == 0}
		y := candidate{id: "desk-2", seq: r.Uint64N(20), master: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			x.id, y.id = y.id, x.id
		}
		xSeen, ySeen := x, y // what the other's last heartbeat said
		xSeen.seq -= r.Uint64N(x.seq + 1)
		ySeen.seq -= r.Uint64N(y.seq + 1)
		xDown, yDown := ySeen.ahead(x), xSeen.ahead(y)
		if xDown && yDown {
			t.Fatalf("both step down: %+v (seen %d) and %+v (seen %d)", x, xSeen.seq, y, ySeen.seq)
		}
		if fresh := y.ahead(x) != x.ahead(y); !fresh {
			t.Fatalf("ahead is not a strict order on %+v, %+v", x, y)
		}
	}
	// A copy that holds the other's history and more has the higher seq, so
	// it is the one that stays.
	if !(candidate{id: "z", seq: 11}).ahead(candidate{id: "a", seq: 10, master: true}) {
		t.Fatal("a copy further ahead lost to the master")
	}
}

// electionRig is one engine logged on to a show as a backup that lost its
// active, with fake peers whose heartbeats the test sets.
type electionRig struct {
	t     *testing.T
	e     *Engine
	sh    *store.Show
	clock *clockwork.FakeClock
}

func newElectionRig(t *testing.T, id string, seq int) *electionRig {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sh, err := st.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	if _, err := sh.StartEpoch("first"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < seq; i++ {
		if _, err := sh.Append([]store.Op{{Key: fmt.Sprintf("cue/%d", i), Value: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	clock := clockwork.NewFakeClock()
	e := testEngine(t, AckOne, clock)
	e.id = id
	e.st = st
	e.net.peers = map[string]*peer{}
	e.show, e.role, e.orphanSince = sh, RoleBackup, clock.Now()
	e.session, e.endSession = context.WithCancel(context.Background())
	t.Cleanup(e.endSession)
	return &electionRig{t: t, e: e, sh: sh, clock: clock}
}

// peer adds a connected peer that says st. What the engine sends it is
// read and dropped.
func (r *electionRig) peer(st wire.State) {
	a, b := net.Pipe()
	go io.Copy(io.Discard, b)
	r.t.Cleanup(func() { a.Close(); b.Close() })
	p := &peer{e: r.e, id: st.Console, conn: wire.NewConn(a), done: make(chan struct{}), changed: make(chan struct{}), inbox: make(chan wire.Msg, 1)}
	st.Show = "demo"
	p.setState(st)
	r.e.net.peers[p.id] = p
}

func (r *electionRig) reconcile() Role {
	r.e.reconcile()
	r.e.mu.RLock()
	defer r.e.mu.RUnlock()
	return r.e.role
}

func TestElectionTakesOverWhenFurthestAhead(t *testing.T) {
	r := newElectionRig(t, "desk-3", 5)
	r.peer(wire.State{Console: "desk-2", Role: "backup", Seq: 4})
	r.peer(wire.State{Console: "desk-1", Role: "backup", Seq: 4, Master: true})
	r.peer(wire.State{Console: "desk-0", Role: "syncing", Seq: 99}) // its copy is not complete
	if got := r.reconcile(); got != RoleActive {
		t.Fatalf("desk-3 holds the most edits but did not take over: role %s", got)
	}
	// desk-1 has as many edits and the lower ID, so it would have gone
	// first: check the tie-break with a fresh rig.
	r = newElectionRig(t, "desk-3", 5)
	r.peer(wire.State{Console: "desk-1", Role: "backup", Seq: 5})
	if got := r.reconcile(); got != RoleBackup {
		t.Fatalf("desk-3 took over although desk-1 is as far and has the lower ID: role %s", got)
	}
	if eps := r.sh.Lineage().Epochs; len(eps) != 1 {
		t.Fatalf("a console that did not take over started an epoch: %v", eps)
	}
	// The master goes before a lower ID.
	r = newElectionRig(t, "desk-3", 5)
	r.e.opts.Master = true
	r.peer(wire.State{Console: "desk-1", Role: "backup", Seq: 5})
	if got := r.reconcile(); got != RoleActive {
		t.Fatalf("the master did not take over on a tie: role %s", got)
	}
	if eps := r.sh.Lineage().Epochs; len(eps) != 2 || eps[1].FirstSeq != 6 {
		t.Fatalf("the successor's epochs: %v, want a new one from seq 6", eps)
	}
}

func TestElectionWaitsForBackupsStillFollowing(t *testing.T) {
	r := newElectionRig(t, "desk-1", 5)
	r.peer(wire.State{Console: "desk-2", Role: "backup", Seq: 3, Following: "desk-0"})
	if got := r.reconcile(); got != RoleBackup {
		t.Fatalf("took over while desk-2 still follows an active: role %s", got)
	}
	// desk-2 notices the active went, and says so.
	r.peer(wire.State{Console: "desk-2", Role: "backup", Seq: 3})
	if got := r.reconcile(); got != RoleActive {
		t.Fatalf("desk-1 is furthest ahead and the only one left, yet did not take over: role %s", got)
	}

	// desk-2 keeps following an active desk-1 cannot reach: desk-1 waits
	// TakeoverTimeout for its connection to come back, then serves its
	// operator anyway.
	r = newElectionRig(t, "desk-1", 5)
	r.peer(wire.State{Console: "desk-2", Role: "backup", Seq: 3, Following: "desk-0"})
	r.clock.Advance(r.e.opts.TakeoverTimeout - time.Millisecond)
	if got := r.reconcile(); got != RoleBackup {
		t.Fatalf("took over before TakeoverTimeout: role %s", got)
	}
	r.clock.Advance(time.Millisecond)
	if got := r.reconcile(); got != RoleActive {
		t.Fatalf("still waiting after TakeoverTimeout: role %s", got)
	}
}

func TestElectionTakesOverWhenTheChosenOneDoesNot(t *testing.T) {
	r := newElectionRig(t, "desk-2", 5)
	r.peer(wire.State{Console: "desk-1", Role: "backup", Seq: 7})
	if got := r.reconcile(); got != RoleBackup {
		t.Fatalf("took over from a backup further ahead: role %s", got)
	}
	r.clock.Advance(r.e.opts.TakeoverTimeout - time.Millisecond)
	if got := r.reconcile(); got != RoleBackup {
		t.Fatalf("took over before TakeoverTimeout: role %s", got)
	}
	r.clock.Advance(time.Millisecond)
	if got := r.reconcile(); got != RoleActive {
		t.Fatalf("desk-1 never took over, and neither did desk-2: role %s", got)
	}
}

func TestActiveStepsDownOnlyToOneFurtherAhead(t *testing.T) {
	r := newElectionRig(t, "desk-1", 5)
	r.e.role = RoleActive
	r.peer(wire.State{Console: "desk-2", Role: "active", Seq: 4})
	if got := r.reconcile(); got != RoleActive {
		t.Fatalf("stepped down for an active behind it: role %s", got)
	}
	r.peer(wire.State{Console: "desk-3", Role: "active", Seq: 6})
	if got := r.reconcile(); got != RoleSyncing {
		t.Fatalf("kept the role next to an active further ahead: role %s", got)
	}
}

// An active that stops being one acknowledges only what a backup holds;
// with no backup to wait for, "durable here" no longer counts. The rest is
// durable here but not confirmed: its outcome is unknown to the operator.
func TestStopAcksFailsWhatNoBackupHolds(t *testing.T) {
	for _, mode := range []AckMode{AckOne, AckAll} {
		t.Run(string(mode), func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			e := testEngine(t, mode, clock)
			p1, p2 := &peer{id: "b1"}, &peer{id: "b2"}
			e.acks.links["b1"] = &backupLink{p: p1, live: true}
			e.acks.links["b2"] = &backupLink{p: p2, live: true}
			subs := []*submission{waiting(3, clock.Now()), waiting(5, clock.Now())}
			e.waitAcked(subs)
			e.onAck(p1, 4)
			e.onAck(p2, 3)
			e.stopAcks()
			if !released(subs[0]) || subs[0].err != nil {
				t.Fatalf("seq 3, held by both backups: released %v err %v", released(subs[0]), subs[0].err)
			}
			if !released(subs[1]) || !errors.Is(subs[1].err, ErrOutcomeUnknown) {
				t.Fatalf("seq 5, held by no backup: released %v err %v", released(subs[1]), subs[1].err)
			}
			// A commit that finishes after the stop is judged the same way,
			// even once no backup is left.
			e.dropBackup(p1)
			e.dropBackup(p2)
			late := waiting(6, clock.Now())
			e.waitAcked([]*submission{late})
			if !released(late) || !errors.Is(late.err, ErrOutcomeUnknown) {
				t.Fatalf("seq 6 after the stop: released %v err %v", released(late), late.err)
			}
			// A new term as active starts clean.
			e.startAcks()
			fresh := waiting(7, clock.Now())
			e.waitAcked([]*submission{fresh})
			if !released(fresh) || fresh.err != nil {
				t.Fatalf("seq 7 alone in a new term: released %v err %v", released(fresh), fresh.err)
			}
		})
	}
}
