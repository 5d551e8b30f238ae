package replication

// How the engine runs its concurrent parts and waits. In production that is
// goroutines, channels and the clock. The deterministic simulation
// (sim_test.go) runs the same code as coroutines, one at a time, on a
// simulated clock, so that one seed replays a whole run exactly. For that,
// engine code never blocks on another part of the engine except through
// the sched: it starts goroutines with Go, waits with Wait or recv, and
// reads the time from Now. It may block on what finishes by itself (the
// disk, Pebble's own goroutines, the copy writers), and it never holds a
// lock across a wait.

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// sched runs the engine's concurrent parts.
type sched interface {
	Now() time.Time
	// Go runs f concurrently, counted in g (which may be nil).
	Go(g *group, f func())
	// Wait blocks until one of chs can be received from (closed, or holding
	// a value, which it takes), and returns its index; or, with a non-zero
	// deadline, until then, and returns -1. nil channels are never ready.
	Wait(deadline time.Time, chs ...<-chan struct{}) int
}

// earlier returns the earlier of two deadlines.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// after is a deadline d from now.
func after(s sched, d time.Duration) time.Time { return s.Now().Add(d) }

// sleep waits d, or until stop is ready; it reports whether d passed.
func sleep(s sched, d time.Duration, stop ...<-chan struct{}) bool {
	return s.Wait(after(s, d), stop...) < 0
}

// recv waits for a value from ch, as Wait does for the others; i is -1 at
// the deadline, len(others) when the value came (ok false when ch is
// closed), else the index of the other channel that was ready.
func recv[T any](s sched, ch <-chan T, deadline time.Time, others ...<-chan struct{}) (v T, ok bool, i int) {
	switch s := s.(type) {
	case realSched:
		return realRecv(s, ch, deadline, others)
	case poller:
		cond := func() bool { return canRecv(ch) || anyReady(others) }
		for {
			select {
			case v, ok = <-ch:
				s.note()
				return v, ok, len(others)
			default:
			}
			if i = ready(others); i >= 0 {
				s.note()
				return v, false, i
			}
			if !s.turn(deadline, cond) {
				return v, false, -1
			}
		}
	}
	panic("replication: unknown sched")
}

// canRecv reports, without receiving, whether a receive from ch would not
// block: it holds a value, or is closed. (A receive from a closed channel
// takes nothing; the engine's waits are on buffered or closed channels.)
func canRecv[T any](ch <-chan T) bool {
	if ch == nil {
		return false
	}
	if len(ch) > 0 {
		return true
	}
	select {
	case _, ok := <-ch:
		if ok {
			panic("replication: a simulated wait on an unbuffered channel with a sender")
		}
		return true
	default:
		return false
	}
}

func anyReady(chs []<-chan struct{}) bool {
	for _, ch := range chs {
		if canRecv(ch) {
			return true
		}
	}
	return false
}

// send waits until v can be sent on ch, as recv waits for a value: i is
// -1 at the deadline, len(others) once v went, else the index of the other
// channel that was ready.
func send[T any](s sched, ch chan<- T, v T, deadline time.Time, others ...<-chan struct{}) (i int) {
	switch s := s.(type) {
	case realSched:
		tc, stop := s.timer(deadline)
		defer stop()
		switch len(others) {
		case 0:
			select {
			case ch <- v:
				return 0
			case <-tc:
				return -1
			}
		case 1:
			select {
			case ch <- v:
				return 1
			case <-others[0]:
				return 0
			case <-tc:
				return -1
			}
		}
		panic("replication: send with more than one other channel")
	case poller:
		cond := func() bool { return len(ch) < cap(ch) || anyReady(others) }
		for {
			select {
			case ch <- v:
				s.note()
				return len(others)
			default:
			}
			if i = ready(others); i >= 0 {
				s.note()
				return i
			}
			if !s.turn(deadline, cond) {
				return -1
			}
		}
	}
	panic("replication: unknown sched")
}

// poller is a sched that waits by looking again at every turn: the
// simulation. turn lets the others run until cond (which must not change
// anything) holds or the deadline (if not zero) has passed, and reports
// false at the deadline.
type poller interface {
	sched
	turn(deadline time.Time, cond func() bool) bool
	note() // something changed: the simulation is not stuck
}

// ready receives from the first of chs that can be received from, without
// blocking, and returns its index, or -1.
func ready(chs []<-chan struct{}) int {
	for i, ch := range chs {
		if ch == nil {
			continue
		}
		select {
		case <-ch:
			return i
		default:
		}
	}
	return -1
}

// afterFunc runs f on a goroutine of the engine after d, unless stop is
// called first, or the engine closes.
func (e *Engine) afterFunc(d time.Duration, f func()) (stop func()) {
	quit := make(chan struct{})
	var once sync.Once
	deadline := after(e.sched, d)
	e.sched.Go(&e.net.wg, func() {
		if e.sched.Wait(deadline, quit, e.closing) < 0 {
			f()
		}
	})
	return func() { once.Do(func() { close(quit) }) }
}

// withDeadline is context.WithDeadline on the sched's clock: the context
// ends at deadline, or when ctx does, or at cancel.
func (e *Engine) withDeadline(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	e.sched.Go(&e.net.wg, func() {
		e.sched.Wait(deadline, ctx.Done())
		cancel()
	})
	return ctx, cancel
}

// waitMutex is a mutex that may be held across waits (a launch holds one
// for its whole course): waiting for it goes through the sched. The zero
// value is not usable: make one with newWaitMutex.
type waitMutex struct{ ch chan struct{} }

func newWaitMutex() waitMutex { return waitMutex{make(chan struct{}, 1)} }

// lock waits for the mutex, or for done (then it reports false).
func (m waitMutex) lock(s sched, done <-chan struct{}) bool {
	return send(s, m.ch, struct{}{}, time.Time{}, done) == 1
}

func (m waitMutex) tryLock() bool {
	select {
	case m.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

func (m waitMutex) unlock() { <-m.ch }

// group counts goroutines started with Go, so that their owner can wait
// for them all (sync.WaitGroup, but waited through the sched).
type group struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed whenever n reaches 0
}

func (g *group) add() {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
}

func (g *group) done() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
	g.mu.Unlock()
}

// wait returns once every goroutine of g has returned.
func (g *group) wait(s sched) {
	for {
		g.mu.Lock()
		if g.n == 0 {
			g.mu.Unlock()
			return
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		ch := g.changed
		g.mu.Unlock()
		s.Wait(time.Time{}, ch)
	}
}

// realSched is production: goroutines and a clockwork clock (real, or fake
// in unit tests).
type realSched struct{ clock clockwork.Clock }

func (r realSched) Now() time.Time { return r.clock.Now() }

func (r realSched) Go(g *group, f func()) {
	if g != nil {
		g.add()
	}
	go func() {
		if g != nil {
			defer g.done()
		}
		f()
	}()
}

// timer returns a channel that fires at deadline, and its stop; nil for a
// zero deadline.
func (r realSched) timer(deadline time.Time) (<-chan time.Time, func() bool) {
	if deadline.IsZero() {
		return nil, func() bool { return false }
	}
	t := r.clock.NewTimer(deadline.Sub(r.clock.Now()))
	return t.Chan(), t.Stop
}

func (r realSched) Wait(deadline time.Time, chs ...<-chan struct{}) int {
	tc, stop := r.timer(deadline)
	defer stop()
	// Native selects for the usual counts: a reflect.Select costs more than
	// the waits on the hot paths.
	switch len(chs) {
	case 0:
		<-tc
		return -1
	case 1:
		select {
		case <-chs[0]:
			return 0
		case <-tc:
			return -1
		}
	case 2:
		select {
		case <-chs[0]:
			return 0
		case <-chs[1]:
			return 1
		case <-tc:
			return -1
		}
	case 3:
		select {
		case <-chs[0]:
			return 0
		case <-chs[1]:
			return 1
		case <-chs[2]:
			return 2
		case <-tc:
			return -1
		}
	case 4:
		select {
		case <-chs[0]:
			return 0
		case <-chs[1]:
			return 1
		case <-chs[2]:
			return 2
		case <-chs[3]:
			return 3
		case <-tc:
			return -1
		}
	}
	return reflectSelect(tc, chs)
}

// reflectSelect waits on any number of channels; slower than a select,
// used only for more than four.
func reflectSelect(tc <-chan time.Time, chs []<-chan struct{}) int {
	cases := make([]reflect.SelectCase, 0, len(chs)+1)
	for _, ch := range chs {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(tc)})
	i, _, _ := reflect.Select(cases)
	if i == len(chs) {
		return -1
	}
	return i
}

func realRecv[T any](r realSched, ch <-chan T, deadline time.Time, others []<-chan struct{}) (v T, ok bool, i int) {
	tc, stop := r.timer(deadline)
	defer stop()
	switch len(others) {
	case 0:
		select {
		case v, ok = <-ch:
			return v, ok, 0
		case <-tc:
			return v, false, -1
		}
	case 1:
		select {
		case v, ok = <-ch:
			return v, ok, 1
		case <-others[0]:
			return v, false, 0
		case <-tc:
			return v, false, -1
		}
	case 2:
		select {
		case v, ok = <-ch:
			return v, ok, 2
		case <-others[0]:
			return v, false, 0
		case <-others[1]:
			return v, false, 1
		case <-tc:
			return v, false, -1
		}
	case 3:
		select {
		case v, ok = <-ch:
			return v, ok, 3
		case <-others[0]:
			return v, false, 0
		case <-others[1]:
			return v, false, 1
		case <-others[2]:
			return v, false, 2
		case <-tc:
			return v, false, -1
		}
	}
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}, {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(tc)}}
	for _, o := range others {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(o)})
	}
	j, rv, rok := reflect.Select(cases)
	switch j {
	case 0:
		if rok {
			v = rv.Interface().(T)
		}
		return v, rok, len(others)
	case 1:
		return v, false, -1
	}
	return v, false, j - 2
}
