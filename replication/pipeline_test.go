package replication

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/replication/store"
	"consoled/replication/wire"
)

func TestRingReadsWhatWasPublished(t *testing.T) {
	pl := &pipeline{ring: make([]wire.Edit, 8)}
	if _, _, ok := pl.read(0, nil); ok {
		t.Fatal("an empty ring claims to hold edits")
	}
	publish := func(from, to uint64) {
		var eds []store.Edit
		for s := from; s <= to; s++ {
			eds = append(eds, store.Edit{Seq: s, Epoch: "e", Op: store.Op{Key: fmt.Sprintf("k/%d", s), Value: []byte("v")}})
		}
		pl.publish(eds)
	}
	publish(11, 15)
	got, upTo, ok := pl.read(12, nil)
	if !ok || upTo != 15 || len(got) != 3 || got[0].Seq != 13 || got[2].Seq != 15 {
		t.Fatalf("read(12) = %v, %d, %v", got, upTo, ok)
	}
	if got, upTo, ok := pl.read(15, nil); !ok || upTo != 15 || len(got) != 0 {
		t.Fatalf("read(15) = %v, %d, %v; want nothing new, caught up", got, upTo, ok)
	}
	if _, _, ok := pl.read(9, nil); ok {
		t.Fatal("read(9) from a ring that starts at 11: must fall back to the log")
	}
	if got, _, ok := pl.read(10, nil); !ok || len(got) != 5 {
		t.Fatalf("read(10) = %v, %v; want 11..15", got, ok)
	}
	// Overflow evicts the oldest; the ring stays contiguous.
	publish(16, 22)
	if _, _, ok := pl.read(13, nil); ok {
		t.Fatal("seq 14 was evicted, yet read(13) claims to hold it")
	}
	got, upTo, ok = pl.read(14, nil)
	if !ok || upTo != 22 || len(got) != 8 || got[0].Seq != 15 || got[7].Seq != 22 || got[7].Key != "k/22" {
		t.Fatalf("read(14) after overflow = %v, %d, %v", got, upTo, ok)
	}
}

func testEngine(t *testing.T, mode AckMode, clock clockwork.Clock) *Engine {
	t.Helper()
	e, err := New(Options{ID: "a", Store: &store.Store{}, Ack: mode, Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func waiting(seq uint64, at time.Time) *submission {
	return &submission{seq: seq, at: at, done: make(chan struct{})}
}

func released(s *submission) bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func TestAcksReleaseExactlyWhatTheModeAsks(t *testing.T) {
	for _, tc := range []struct {
		mode AckMode
		// after backup b1 confirms 5 and b2 confirms 3: which of seqs 3, 4, 6 are acknowledged
		want [3]bool
	}{
		{AckLocal, [3]bool{true, true, true}},
		{AckOne, [3]bool{true, true, false}},
		{AckAll, [3]bool{true, false, false}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			e := testEngine(t, tc.mode, clock)
			p1, p2 := &peer{id: "b1"}, &peer{id: "b2"}
			e.acks.links["b1"] = &backupLink{p: p1, live: true}
			e.acks.links["b2"] = &backupLink{p: p2, live: true}
			subs := []*submission{waiting(3, clock.Now()), waiting(4, clock.Now()), waiting(6, clock.Now())}
			e.acks.waitAcked(subs)
			e.acks.onAck(p1, 5)
			e.acks.onAck(p2, 3)
			for i, s := range subs {
				if released(s) != tc.want[i] {
					t.Errorf("seq %d acknowledged: %v, want %v", s.seq, released(s), tc.want[i])
				}
			}
			// Losing the last live backup closes the fence (fence.go): what
			// no backup confirmed waits for the consoles to be heard afresh,
			// instead of counting as acknowledged by this disk alone.
			e.acks.dropBackup(p1)
			e.acks.dropBackup(p2)
			for i, s := range subs {
				if released(s) != tc.want[i] {
					t.Errorf("seq %d acknowledged with the fence closed: %v, want %v", s.seq, released(s), tc.want[i])
				}
			}
			if e.acks.fenceFor() == "" {
				t.Fatal("the fence did not close when the last live backup went")
			}
			// Opened, local durability is enough again.
			e.acks.mu.Lock()
			e.acks.fencedAt = time.Time{}
			e.acks.releaseLocked()
			e.acks.mu.Unlock()
			for _, s := range subs {
				if !released(s) {
					t.Errorf("seq %d still waits with no backup connected and the fence open", s.seq)
				}
			}
		})
	}
}

func TestSilentBackupStopsCountingAfterAckTimeout(t *testing.T) {
	clock := clockwork.NewFakeClock()
	e := testEngine(t, AckAll, clock)
	fast, slow := &peer{id: "fast"}, &peer{id: "slow"}
	e.acks.links["fast"] = &backupLink{p: fast, live: true}
	e.acks.links["slow"] = &backupLink{p: slow, live: true}
	s := waiting(7, clock.Now())
	e.acks.waitAcked([]*submission{s})
	e.acks.onAck(fast, 7)
	if released(s) {
		t.Fatal("acknowledged before the slow backup confirmed or timed out")
	}
	clock.Advance(e.opts.AckTimeout)
	deadline := time.Now().Add(5 * time.Second)
	for !released(s) {
		if time.Now().After(deadline) {
			t.Fatal("still waiting for a backup silent for AckTimeout")
		}
		time.Sleep(time.Millisecond)
	}
	e.acks.mu.Lock()
	live := e.acks.links["slow"].live
	e.acks.mu.Unlock()
	if live {
		t.Fatal("the silent backup still counts")
	}
}
