package netlink

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/hal"
)

// fakeOS is an osMon whose link the test sets, and whose subscription the
// test feeds hints to or breaks.
type fakeOS struct {
	mu         sync.Mutex
	obs        observation
	lookupErr  error
	subErr     error
	lookups    int
	subscribes int
	in         chan hint // the live subscription's input; nil when none
	closed     bool
	wg         sync.WaitGroup // subscription goroutines
}

func (f *fakeOS) set(o observation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.obs = o
}

func (f *fakeOS) lookup(string) (observation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	return f.obs, f.lookupErr
}

func (f *fakeOS) subscribe(done <-chan struct{}) (<-chan hint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subscribes++
	if f.subErr != nil {
		return nil, f.subErr
	}
	in, out := make(chan hint), make(chan hint)
	f.in = in
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(out)
		for {
			select {
			case <-done:
				return
			case h, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- h:
				case <-done:
					return
				}
			}
		}
	}()
	return out, nil
}

func (f *fakeOS) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// hint hands a hint to the live subscription, waiting for the monitor to
// have subscribed. It returns once the subscription took the hint; the
// monitor acts on it in its own time.
func (f *fakeOS) hint(t *testing.T, h hint) {
	t.Helper()
	f.live(t) <- h
}

// sync returns once the monitor has finished with every hint sent before:
// the second of two hints (about a link nobody watches) is taken only when
// the monitor is back waiting after the first, and so done with the rest.
func (f *fakeOS) sync(t *testing.T) {
	t.Helper()
	f.hint(t, hint{name: "sync0", index: 999})
	f.hint(t, hint{name: "sync0", index: 999})
}

// live waits for the monitor to have subscribed and returns the input of
// that subscription.
func (f *fakeOS) live(t *testing.T) chan hint {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		in := f.in
		f.mu.Unlock()
		if in != nil {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatal("the monitor never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
}

// breakSubscription ends the live subscription as a receive error would.
func (f *fakeOS) breakSubscription(t *testing.T) {
	in := f.live(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	close(in)
	f.in = nil
}

func (f *fakeOS) count() (lookups, subscribes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups, f.subscribes
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	up     = observation{present: true, up: true, index: 2}
	down   = observation{present: true, up: false, index: 2}
	absent = observation{}
)

func start(t *testing.T, f *fakeOS) (*Monitor, *clockwork.FakeClock) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2025, 1, 1, 20, 0, 0, 0, time.UTC))
	m, err := newMonitor("eth0", f, Options{Clock: clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		f.wg.Wait()
	})
	return m, clock
}

func next(t *testing.T, m *Monitor) hal.LinkState {
	t.Helper()
	select {
	case s, ok := <-m.Changes():
		if !ok {
			t.Fatal("Changes closed")
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no link change within 5s")
	}
	return hal.LinkState{}
}

func expect(t *testing.T, got hal.LinkState, present, up bool, at time.Time) {
	t.Helper()
	if got.Name != "eth0" || got.Present != present || got.Up != up || !got.At.Equal(at) {
		t.Fatalf("state %v at %s, want present=%t up=%t at %s", got, got.At, present, up, at)
	}
}

func TestInitialState(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	expect(t, m.State(), true, true, clock.Now())
	if m.Name() != "eth0" {
		t.Fatalf("name %q", m.Name())
	}
}

func TestHintReportsCarrierLoss(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	f.set(down)
	f.hint(t, hint{name: "eth0", index: 2})
	expect(t, next(t, m), true, false, clock.Now())
	expect(t, m.State(), true, false, clock.Now())
}

func TestUnrelatedHintsAreIgnoredAndNoChangeIsNotReported(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	before, _ := f.count()
	f.hint(t, hint{name: "eth1", index: 3}) // another link: no read
	f.hint(t, hint{name: "eth0", index: 2}) // ours, unchanged: a read, no change
	f.sync(t)
	if lookups, _ := f.count(); lookups != before+1 {
		t.Fatalf("%d reads after the hints, want 1 (for the hint about eth0)", lookups-before)
	}
	if n := len(m.Changes()); n != 0 {
		t.Fatalf("%d changes queued with nothing changed: %v", n, <-m.Changes())
	}
	f.set(down)
	f.hint(t, hint{name: "eth0", index: 2})
	expect(t, next(t, m), true, false, clock.Now())
}

func TestPollCatchesChangeWithoutEvent(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	f.set(down)
	clock.Advance(DefaultPollInterval)
	expect(t, next(t, m), true, false, clock.Now())
}

func TestRemovedAndBack(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	f.set(absent)
	f.hint(t, hint{name: "eth0", index: 2})
	expect(t, next(t, m), false, false, clock.Now())
	if s := m.State(); s.String() != "eth0 absent" {
		t.Fatalf("State %v", s)
	}
	// Renamed away and back, or a new device under the name: found by name.
	f.set(observation{present: true, up: true, index: 7})
	clock.Advance(DefaultPollInterval)
	expect(t, next(t, m), true, true, clock.Now())
}

func TestRenameHintMatchesByIndex(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	f.set(absent)
	// The kernel names the link by its new name; its index gives it away.
	f.hint(t, hint{name: "renamed0", index: 2})
	expect(t, next(t, m), false, false, clock.Now())
}

func TestResubscribesAfterSubscriptionEnds(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	f.breakSubscription(t)
	// The monitor resubscribes on the next tick; wait until it has.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, subs := f.count(); subs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no resubscription")
		}
		clock.Advance(DefaultPollInterval)
		time.Sleep(time.Millisecond)
	}
	f.set(down)
	f.hint(t, hint{name: "eth0", index: 2})
	expect(t, next(t, m), true, false, clock.Now())
}

func TestPollsWhenSubscriptionFails(t *testing.T) {
	f := &fakeOS{obs: up, subErr: errors.New("EPERM")}
	m, clock := start(t, f)
	f.set(down)
	clock.Advance(DefaultPollInterval)
	expect(t, next(t, m), true, false, clock.Now())
	if _, subs := f.count(); subs < 2 {
		t.Fatalf("%d subscribe attempts, want a retry on the tick", subs)
	}
}

func TestInjectEvent(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	f.set(down)
	m.InjectEvent()
	expect(t, next(t, m), true, false, clock.Now())
}

func TestLookupErrorKeepsState(t *testing.T) {
	f := &fakeOS{obs: up}
	m, clock := start(t, f)
	f.mu.Lock()
	f.lookupErr = errors.New("EBUSY")
	f.obs = absent
	f.mu.Unlock()
	f.hint(t, hint{name: "eth0", index: 2})
	f.sync(t)
	if s := m.State(); !s.Present || !s.Up {
		t.Fatalf("state %v after a failed read, want the last one (up)", s)
	}
	f.mu.Lock()
	f.lookupErr = nil
	f.obs = down
	f.mu.Unlock()
	m.InjectEvent()
	// The failed read made no "absent"; the first change is the real one.
	expect(t, next(t, m), true, false, clock.Now())
}

func TestSlowReaderGetsLatestState(t *testing.T) {
	f := &fakeOS{obs: up}
	clock := clockwork.NewFakeClock()
	m, err := newMonitor("eth0", f, Options{Clock: clock, Queue: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close(); f.wg.Wait() }()
	for _, o := range []observation{down, up, down} {
		f.set(o)
		f.hint(t, hint{name: "eth0", index: 2})
	}
	f.sync(t)
	if n := len(m.Changes()); n != 1 {
		t.Fatalf("%d changes queued, want 1", n)
	}
	expect(t, next(t, m), true, false, clock.Now())
}

func TestCloseClosesChangesAndStopsSubscription(t *testing.T) {
	f := &fakeOS{obs: up}
	m, err := newMonitor("eth0", f, Options{Clock: clockwork.NewFakeClock(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	f.wg.Wait() // the subscription's goroutine has ended
	if _, ok := <-m.Changes(); ok {
		t.Fatal("Changes not closed")
	}
	if !f.closed {
		t.Fatal("osMon not closed")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m.InjectEvent() // harmless after Close
}
