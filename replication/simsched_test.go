package replication

// The simulation's scheduler: every goroutine of every simulated console
// (started with sched.Go) is a coroutine, and the scheduler runs them one
// at a time, in the order they were started, on a simulated clock. A
// coroutine runs until it waits (sched.Wait, recv, or a simulated socket);
// when none can move, the clock jumps to the next deadline or network
// event. Nothing else decides what runs when, so one seed replays a whole
// run exactly.

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"
)

// simSched is one simulated world's scheduler. All of it runs on the
// goroutine that calls run.
type simSched struct {
	now    time.Time
	procs  []*simProc
	cur    *simProc
	events []simEvent         // future happenings (network deliveries), by time then order
	seq    uint64             // orders events scheduled for the same time
	moved  bool               // something happened in this round
	gen    uint64             // counts changes any console's waits may see: the harness acted (see step)
	gens   map[string]*uint64 // node → counts changes its waits may see: its coroutines ran, network work reached it
	idle   idleMark           // the clock last moved to network work due before anything else

	lookAlways bool // look at every wait in every round (a test of step)
	nextID     int
	frozen     map[string]time.Time // node → until when none of its coroutines runs (a paused process)
	dead       map[string]bool      // nodes being killed: a coroutine they start is killed too
}

type simProc struct {
	id       int
	node     string // the console it belongs to ("" for the harness)
	name     string
	next     func() (struct{}, bool)
	stop     func()
	yield    func(struct{}) bool
	deadline time.Time   // of the wait it is in
	cond     func() bool // whether the wait it is in may be over (nil: look)
	notAt    uint64      // s.gen when cond last held false (0: not looked at in this wait)
	notAtOwn uint64      // *own then
	own      *uint64     // s.gens[node]
	killed   bool
	done     bool
	g        *group
}

// idleMark is what step saw when it moved the clock to network work due
// before any deadline: while gen and the coroutines are the same, none of
// them can run before that work is done.
type idleMark struct {
	set   bool
	gen   uint64
	procs int
}

type simEvent struct {
	at   time.Time
	seq  uint64
	node string // whose waits fn may change ("": anyone's)
	fn   func()
}

// errKilled unwinds a coroutine whose console crashed.
var errKilled = errors.New("simulated console crashed")

func newSimSched(start time.Time) *simSched {
	return &simSched{now: start, gen: 1, gens: map[string]*uint64{}, frozen: map[string]time.Time{}, dead: map[string]bool{}}
}

// touch says that something a wait's cond looks at may have changed from
// outside the coroutines (the harness acted): every cond is looked at again.
func (s *simSched) touch() { s.gen++ }

// changed says that something the waits of node's coroutines look at may
// have changed ("": anyone's).
func (s *simSched) changed(node string) {
	if node == "" {
		s.touch()
	} else {
		*s.own(node)++
	}
}

// own returns node's count of changes.
func (s *simSched) own(node string) *uint64 {
	g := s.gens[node]
	if g == nil {
		g = new(uint64)
		s.gens[node] = g
	}
	return g
}

// freeze stops every coroutine of node, now and later ones, for d: a
// process stopped (SIGSTOP) or starved.
func (s *simSched) freeze(node string, d time.Duration) { s.frozen[node] = s.now.Add(d) }

func (s *simSched) isFrozen(node string) bool {
	until, ok := s.frozen[node]
	if ok && !s.now.Before(until) {
		delete(s.frozen, node)
		s.moved = true
		return false
	}
	return ok
}

func (s *simSched) Now() time.Time { return s.now }

// on returns the sched a console's engine uses: its coroutines are tagged
// with the console, so that a crash can end them all.
func (s *simSched) on(node string) sched { return simNode{s, node} }

type simNode struct {
	s    *simSched
	node string
}

func (n simNode) Now() time.Time        { return n.s.now }
func (n simNode) Go(g *group, f func()) { n.s.spawn(n.node, "", g, f) }
func (n simNode) Wait(deadline time.Time, chs ...<-chan struct{}) int {
	return n.s.Wait(deadline, chs...)
}
func (n simNode) turn(deadline time.Time, cond func() bool) bool { return n.s.turn(deadline, cond) }
func (n simNode) note()                                          { n.s.moved = true }

func (s *simSched) Go(g *group, f func()) { s.spawn("", "", g, f) }

// revive lets node start coroutines again (a restart after kill).
func (s *simSched) revive(node string) { delete(s.dead, node) }

// spawn starts f as a coroutine; it first runs at the scheduler's next
// look at the procs (later in this round, if started during one).
func (s *simSched) spawn(node, name string, g *group, f func()) *simProc {
	s.nextID++
	p := &simProc{id: s.nextID, node: node, name: name, g: g, killed: node != "" && s.dead[node], own: s.own(node)}
	if g != nil {
		g.add()
	}
	p.next, p.stop = iter.Pull(func(yield func(struct{}) bool) {
		p.yield = yield
		defer func() {
			if r := recover(); r != nil && r != errKilled {
				panic(r)
			}
		}()
		f()
	})
	s.procs = append(s.procs, p)
	s.moved = true
	return p
}

// turn lets the other coroutines run until cond holds (the scheduler looks
// at it without running this coroutine), and reports false once the
// deadline (if not zero) has passed. Called only from a coroutine.
func (s *simSched) turn(deadline time.Time, cond func() bool) bool {
	p := s.cur
	if p == nil {
		panic("replication: simulated wait outside a simulated goroutine")
	}
	if p.killed {
		panic(errKilled)
	}
	p.deadline, p.cond, p.notAt, p.notAtOwn = deadline, cond, 0, 0
	p.yield(struct{}{})
	p.deadline, p.cond = time.Time{}, nil
	if p.killed {
		panic(errKilled)
	}
	if !deadline.IsZero() && !s.now.Before(deadline) {
		s.moved = true
		return false
	}
	return true
}

// Wait is sched.Wait on the simulated clock.
func (s *simSched) Wait(deadline time.Time, chs ...<-chan struct{}) int {
	cond := func() bool { return anyReady(chs) }
	for {
		if i := ready(chs); i >= 0 {
			s.moved = true
			return i
		}
		if !s.turn(deadline, cond) {
			return -1
		}
	}
}

// at schedules fn (network work) for time t; fn may change what the waits
// of node's coroutines look at ("": of anyone's).
func (s *simSched) at(t time.Time, node string, fn func()) {
	s.seq++
	ev := simEvent{at: t, seq: s.seq, node: node, fn: fn}
	i, _ := slices.BinarySearchFunc(s.events, ev, func(a, b simEvent) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	s.events = slices.Insert(s.events, i, ev)
}

// kill ends every coroutine of node at its next wait, as a power cut ends
// a process, and any it starts from now on, until revive.
func (s *simSched) kill(node string) {
	s.dead[node] = true
	for _, p := range s.procs {
		if p.node == node && !p.done {
			p.killed = true
		}
	}
}

// step runs one round: every coroutine that is not done, in order, until it
// waits again; then, if nothing moved, the clock jumps to the next deadline
// or event. It reports false when nothing is left to happen.
//
// A wait's cond is looked at again only when something it could see has
// changed since it last held false: most rounds run one coroutine of
// dozens, and looking at every wait in every round was most of a run's
// time. Consoles share nothing but the network, so a cond can see only
// what its own console's coroutines change, what the network brings that
// console (an event of its node, a dial to it), and what the harness does;
// each of these counts a change (gens, gen). The rounds are the same as
// when every cond is looked at every time (lookAlways), which
// TestSimSchedLooksOnlyWhenNeeded checks.
func (s *simSched) step() bool {
	s.moved = false
	finished := false
	next := time.Time{} // the earliest deadline of a wait not over
	procs := s.procs
	if !s.lookAlways && s.idle.set && s.idle.gen == s.gen && s.idle.procs == len(s.procs) && len(s.events) > 0 && !s.events[0].at.After(s.now) {
		procs = nil // no coroutine can run: straight to the network work
	}
	s.idle.set = false
	for i := 0; i < len(procs); i++ {
		p := procs[i]
		if p.done || (!p.killed && len(s.frozen) > 0 && s.isFrozen(p.node)) {
			continue
		}
		if p.cond != nil && !p.killed && (p.deadline.IsZero() || s.now.Before(p.deadline)) {
			if !p.deadline.IsZero() && (next.IsZero() || p.deadline.Before(next)) {
				next = p.deadline
			}
			if !s.lookAlways && p.notAt == s.gen && p.notAtOwn == *p.own {
				continue // nothing it looks at changed: its wait is not over
			}
			if !p.cond() {
				p.notAt, p.notAtOwn = s.gen, *p.own
				continue // its wait is not over: no need to run it
			}
		}
		s.cur = p
		_, alive := p.next()
		s.cur = nil
		procs = s.procs // it may have started others
		if p.node == "" {
			s.touch()
		} else {
			*p.own++
		}
		if !alive {
			p.done = true
			finished = true
			s.moved = true
			if p.g != nil {
				p.g.done()
			}
		}
	}
	if finished {
		s.procs = slices.DeleteFunc(s.procs, func(p *simProc) bool { return p.done })
	}
	// Network work due now goes before the clock moves.
	due := false
	for len(s.events) > 0 && !s.events[0].at.After(s.now) {
		ev := s.events[0]
		s.events = s.events[1:]
		ev.fn()
		s.changed(ev.node)
		due = true
	}
	if s.moved || due {
		return true
	}
	// Nothing ran: the clock jumps to the next deadline or event. (A
	// round in which nothing ran looked at every coroutine, so next is
	// the earliest deadline of all.)
	for _, until := range s.frozen {
		if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	if len(s.events) > 0 && (next.IsZero() || s.events[0].at.Before(next)) {
		next = s.events[0].at
		s.idle = idleMark{set: true, gen: s.gen, procs: len(s.procs)}
	}
	if next.IsZero() {
		return false
	}
	s.now = next
	return true
}

// runUntil steps until cond holds, or the simulated clock passes limit.
func (s *simSched) runUntil(limit time.Time, cond func() bool) error {
	s.touch() // the harness may have acted since the last step
	for !cond() {
		if s.now.After(limit) {
			return fmt.Errorf("simulation: not done by %s", limit.Format(time.TimeOnly))
		}
		if !s.step() {
			if cond() {
				return nil
			}
			return errors.New("simulation: nothing left to happen, and not done")
		}
	}
	return nil
}

// close ends every coroutine still there (at the end of a test).
func (s *simSched) close() {
	for _, p := range s.procs {
		p.killed = true
	}
	for len(s.procs) > 0 {
		s.step()
	}
}
