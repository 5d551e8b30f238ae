package firmware

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/hal"
)

// HoldTime is how long LAUNCH must be held to force a stale launch.
const HoldTime = 3 * time.Second

// Gesture is what the operator did with a button.
type Gesture struct {
	Button string
	Hold   bool // held for HoldTime or longer; otherwise a short press
}

func (g Gesture) String() string {
	if g.Hold {
		return "hold " + g.Button
	}
	return "press " + g.Button
}

// Gestures turns debounced button edges into gestures. A hold is reported the
// moment it reaches HoldTime, while the button is still down, so the operator
// sees the console react without letting go; the release then adds nothing.
// A short press is reported at release.
type Gestures struct {
	clock clockwork.Clock
	hold  time.Duration
	emit  func(Gesture)

	mu   sync.Mutex
	down map[string]*press
}

type press struct {
	at    time.Time
	fired bool
	timer clockwork.Timer
}

// NewGestures calls emit for every gesture, from Feed or from a timer goroutine.
func NewGestures(clock clockwork.Clock, hold time.Duration, emit func(Gesture)) *Gestures {
	return &Gestures{clock: clock, hold: hold, emit: emit, down: map[string]*press{}}
}

// Feed takes one button edge.
func (g *Gestures) Feed(ev hal.ButtonEvent) {
	g.mu.Lock()
	p := g.down[ev.Button]
	if ev.Pressed {
		if p != nil { // a press without a release: restart the gesture
			p.timer.Stop()
		}
		p = &press{at: ev.At}
		g.down[ev.Button] = p
		p.timer = g.clock.AfterFunc(g.hold, func() { g.held(ev.Button, p) })
		g.mu.Unlock()
		return
	}
	if p == nil { // release without press (started before we ran)
		g.mu.Unlock()
		return
	}
	delete(g.down, ev.Button)
	p.timer.Stop()
	fire := !p.fired
	// The edges carry their own timestamps: a release stamped HoldTime after
	// its press is a hold even when it reaches us before the timer fires.
	hold := ev.At.Sub(p.at) >= g.hold
	p.fired = true
	g.mu.Unlock()
	if fire {
		g.emit(Gesture{Button: ev.Button, Hold: hold})
	}
}

func (g *Gestures) held(button string, p *press) {
	g.mu.Lock()
	if g.down[button] != p || p.fired {
		g.mu.Unlock()
		return
	}
	p.fired = true
	g.mu.Unlock()
	g.emit(Gesture{Button: button, Hold: true})
}

// Stop cancels the pending hold timers.
func (g *Gestures) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for b, p := range g.down {
		p.timer.Stop()
		delete(g.down, b)
	}
}
