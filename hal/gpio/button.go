package gpio

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"consoled/hal"
)

// button is one input line. readEdges turns the line's edge events into
// level samples; debounce decides which level changes are real.
type button struct {
	p         *Panel
	name      string
	pin       gpio.PinIO
	activeLow bool
	debounce  time.Duration
	initial   gpio.Level

	samples chan sample
	pressed atomic.Bool // the debounced state
	// taken counts the samples debounce has acted on, so that tests can wait
	// for it instead of sleeping.
	taken atomic.Int64
}

// sample is the line's level right after an edge.
type sample struct {
	level gpio.Level
	at    time.Time
}

func newButton(p *Panel, c ButtonConfig) (*button, error) {
	b := &button{
		p:         p,
		name:      c.Name,
		pin:       c.Pin,
		activeLow: c.ActiveLow,
		debounce:  c.Debounce,
		samples:   make(chan sample),
	}
	if b.debounce <= 0 {
		b.debounce = DefaultDebounce
	}
	pull := c.Pull
	if pull == gpio.PullNoChange {
		pull = gpio.PullDown
		if c.ActiveLow {
			pull = gpio.PullUp
		}
	}
	if err := b.pin.In(pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("gpio: board %s: button %s: line %s: input with edges: %w", p.board, b.name, b.pin.Name(), err)
	}
	// A button held down at start is reported by Pressed but makes no event:
	// events are edges, and none happened.
	b.initial = b.pin.Read()
	b.pressed.Store(b.isPressed(b.initial))
	return b, nil
}

func (b *button) Name() string  { return b.name }
func (b *button) Pressed() bool { return b.pressed.Load() }

func (b *button) isPressed(l gpio.Level) bool { return l != gpio.Level(b.activeLow) }

// readEdges waits for edges and passes the level after each one on. A wait
// that times out still reads the level: if it changed, an edge was lost (a
// full kernel event queue, or a line without edge support) and the change is
// passed on all the same.
func (b *button) readEdges() {
	defer b.p.wg.Done()
	last := b.initial
	for {
		select {
		case <-b.p.done:
			return
		default:
		}
		edge := b.pin.WaitForEdge(b.p.wait)
		level := b.pin.Read()
		if !edge && level == last {
			continue
		}
		last = level
		select {
		case b.samples <- sample{level, b.p.clock.Now()}:
		case <-b.p.done:
			return
		}
	}
}

// debounceLoop accepts a level once it has held for the debounce time. Every
// sample restarts the wait, so bounce inside the window is dropped; a sample
// back at the accepted level cancels the change altogether.
func (b *button) debounceLoop() {
	defer b.p.wg.Done()
	stable := b.initial
	var (
		pending sample
		timer   clockwork.Timer
		expired <-chan time.Time
	)
	stop := func() {
		if timer != nil {
			timer.Stop()
		}
		timer, expired = nil, nil
	}
	defer stop()
	for {
		select {
		case <-b.p.done:
			return
		case s := <-b.samples:
			stop()
			if s.level != stable {
				pending = s
				timer = b.p.clock.NewTimer(b.debounce)
				expired = timer.Chan()
			}
			b.taken.Add(1)
		case <-expired:
			stop()
			stable = pending.level
			pressed := b.isPressed(stable)
			b.pressed.Store(pressed)
			b.p.emit(hal.ButtonEvent{Button: b.name, Pressed: pressed, At: pending.at})
		}
	}
}
