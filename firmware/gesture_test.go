package firmware

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/hal"
)

type gestureLog struct {
	mu  sync.Mutex
	got []Gesture
}

func (l *gestureLog) add(g Gesture) { l.mu.Lock(); l.got = append(l.got, g); l.mu.Unlock() }
func (l *gestureLog) list() []Gesture {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Gesture(nil), l.got...)
}

func newGestureTest(t *testing.T) (*clockwork.FakeClock, *Gestures, *gestureLog) {
	clk := clockwork.NewFakeClock()
	log := &gestureLog{}
	g := NewGestures(clk, HoldTime, log.add)
	t.Cleanup(g.Stop)
	return clk, g, log
}

func edge(clk clockwork.Clock, button string, down bool) hal.ButtonEvent {
	return hal.ButtonEvent{Button: button, Pressed: down, At: clk.Now()}
}

func TestGestureShortPress(t *testing.T) {
	clk, g, log := newGestureTest(t)
	g.Feed(edge(clk, hal.ButtonLaunch, true))
	clk.Advance(200 * time.Millisecond)
	if got := log.list(); len(got) != 0 {
		t.Fatalf("gesture before release: %v", got)
	}
	g.Feed(edge(clk, hal.ButtonLaunch, false))
	got := log.list()
	if len(got) != 1 || got[0] != (Gesture{Button: hal.ButtonLaunch}) {
		t.Fatalf("got %v, want one short press of launch", got)
	}
}

func TestGestureHoldFiresWhileHeld(t *testing.T) {
	clk, g, log := newGestureTest(t)
	g.Feed(edge(clk, hal.ButtonLaunch, true))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 1); err != nil { // the hold timer
		t.Fatal(err)
	}
	clk.Advance(HoldTime - time.Millisecond)
	if got := log.list(); len(got) != 0 {
		t.Fatalf("hold fired early: %v", got)
	}
	clk.Advance(time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for len(log.list()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // AfterFunc runs on its own goroutine
	}
	got := log.list()
	if len(got) != 1 || got[0] != (Gesture{Button: hal.ButtonLaunch, Hold: true}) {
		t.Fatalf("got %v, want one hold of launch", got)
	}
	clk.Advance(time.Second)
	g.Feed(edge(clk, hal.ButtonLaunch, false))
	if got := log.list(); len(got) != 1 {
		t.Fatalf("release after a hold added a gesture: %v", got)
	}
}

// A release stamped HoldTime after its press counts as a hold even when it
// is fed before the timer had a chance to fire (a queued event).
func TestGestureHoldByTimestamps(t *testing.T) {
	clk, g, log := newGestureTest(t)
	t0 := clk.Now()
	g.Feed(hal.ButtonEvent{Button: hal.ButtonLaunch, Pressed: true, At: t0})
	g.Feed(hal.ButtonEvent{Button: hal.ButtonLaunch, Pressed: false, At: t0.Add(HoldTime)})
	got := log.list()
	if len(got) != 1 || !got[0].Hold {
		t.Fatalf("got %v, want one hold", got)
	}
	clk.Advance(2 * HoldTime)
	if got := log.list(); len(got) != 1 {
		t.Fatalf("timer fired after release: %v", got)
	}
}

func TestGestureButtonsIndependent(t *testing.T) {
	clk, g, log := newGestureTest(t)
	g.Feed(edge(clk, hal.ButtonLaunch, true))
	g.Feed(edge(clk, hal.ButtonLogoff, true))
	g.Feed(edge(clk, hal.ButtonLogoff, false))
	g.Feed(edge(clk, hal.ButtonLaunch, false))
	got := log.list()
	want := []Gesture{{Button: hal.ButtonLogoff}, {Button: hal.ButtonLaunch}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A release with no press seen (the button was down at start-up) is ignored.
	g.Feed(edge(clk, hal.ButtonLaunch, false))
	if got := log.list(); len(got) != 2 {
		t.Fatalf("stray release made a gesture: %v", got)
	}
}
