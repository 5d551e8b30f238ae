package replication

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/jonboulle/clockwork"
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
