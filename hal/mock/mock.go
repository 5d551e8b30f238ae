// Package mock is an in-memory hal.Board for tests, benches and the built-in
// "mock" board: buttons are pressed and the link is cut by calling methods
// (its buttons are hal.ButtonPressers and its link a hal.LinkSetter, which
// the control API drives as `consolectl press` and `consolectl link`),
// and the LEDs are read back as states.
package mock

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/hal"
)

// Options configure a mock board. The zero value is usable.
type Options struct {
	// Name is the board's name. Default "mock".
	Name string
	// NIC is the link's interface name. Default "mock0".
	NIC string
	// Clock stamps events and times holds. Default: the real clock.
	Clock clockwork.Clock
	// Queue is the capacity of the button and link channels. Default 64.
	// A full queue blocks Press and SetLink: a test that forgets to read
	// events hangs visibly instead of losing them.
	Queue int
}

// Board is the in-memory board.
type Board struct {
	name  string
	clock clockwork.Clock

	mu      sync.Mutex
	closed  bool
	pressed map[string]bool
	leds    map[string]hal.LEDState
	link    hal.LinkState

	buttons chan hal.ButtonEvent
	changes chan hal.LinkState
	done    chan struct{}
	epoch   time.Time // the blink rhythm's start
}

var (
	_ hal.Board         = (*Board)(nil)
	_ hal.ButtonPresser = button{}
	_ hal.LinkSetter    = link{}
	_ hal.BlinkClock    = (*Board)(nil)
)

// New returns a board with every button released, every LED off and the link up.
func New(opts Options) *Board {
	if opts.Name == "" {
		opts.Name = "mock"
	}
	if opts.NIC == "" {
		opts.NIC = "mock0"
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Queue <= 0 {
		opts.Queue = 64
	}
	b := &Board{
		name:    opts.Name,
		clock:   opts.Clock,
		pressed: map[string]bool{},
		leds:    map[string]hal.LEDState{},
		buttons: make(chan hal.ButtonEvent, opts.Queue),
		changes: make(chan hal.LinkState, opts.Queue),
		done:    make(chan struct{}),
		epoch:   opts.Clock.Now(),
	}
	for _, n := range hal.LEDNames {
		b.leds[n] = hal.Off
	}
	b.link = hal.LinkState{Name: opts.NIC, Present: true, Up: true, At: b.clock.Now()}
	return b
}

func (b *Board) Name() string { return b.name }

// BlinkClock is the rhythm a blinking LED of this board would keep: that
// of a real panel started with the board.
func (b *Board) BlinkClock() (time.Time, time.Duration) { return b.epoch, hal.BlinkHalfPeriod }

func known(name string, names []string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func (b *Board) Button(name string) (hal.Button, bool) {
	if !known(name, hal.ButtonNames) {
		return nil, false
	}
	return button{b, name}, true
}

func (b *Board) LED(name string) (hal.LED, bool) {
	if !known(name, hal.LEDNames) {
		return nil, false
	}
	return led{b, name}, true
}

func (b *Board) Buttons() <-chan hal.ButtonEvent { return b.buttons }
func (b *Board) Link() hal.Link                  { return link{b} }

// Close turns the LEDs off and closes the event channels. It is idempotent.
func (b *Board) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for n := range b.leds {
		b.leds[n] = hal.Off
	}
	close(b.done)
	close(b.buttons)
	close(b.changes)
	return nil
}

// ErrClosed is returned by the driving methods after Close.
var ErrClosed = fmt.Errorf("mock board: closed")

// edge records a level change and queues its event. The lock is held while
// sending so that events leave in the order the levels changed and never
// after Close has closed the channel.
func (b *Board) edge(name string, down bool) error {
	if !known(name, hal.ButtonNames) {
		return fmt.Errorf("mock board: unknown button %q (have %v)", name, hal.ButtonNames)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.pressed[name] == down {
		return nil
	}
	b.pressed[name] = down
	b.buttons <- hal.ButtonEvent{Button: name, Pressed: down, At: b.clock.Now()}
	return nil
}

// Down presses a button and keeps it pressed.
func (b *Board) Down(name string) error { return b.edge(name, true) }

// Up releases a button.
func (b *Board) Up(name string) error { return b.edge(name, false) }

// Press presses a button, holds it for hold on the board's clock (a short tap
// when hold is 0) and releases it. It returns after the release, or early
// with ctx's error, releasing the button.
func (b *Board) Press(ctx context.Context, name string, hold time.Duration) error {
	if err := b.Down(name); err != nil {
		return err
	}
	var err error
	if hold > 0 {
		select {
		case <-b.clock.After(hold):
		case <-ctx.Done():
			err = ctx.Err()
		case <-b.done:
			return ErrClosed
		}
	}
	if uerr := b.Up(name); err == nil {
		err = uerr
	}
	return err
}

// SetLink sets the NIC's carrier, as pulling or plugging the cable would.
func (b *Board) SetLink(up bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.link.Up == up {
		return nil
	}
	b.link.Up = up
	b.link.At = b.clock.Now()
	b.changes <- b.link
	return nil
}

// LEDs returns every LED's state by name.
func (b *Board) LEDs() map[string]hal.LEDState {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[string]hal.LEDState, len(b.leds))
	for n, s := range b.leds {
		m[n] = s
	}
	return m
}

type button struct {
	b    *Board
	name string
}

func (p button) Name() string { return p.name }
func (p button) Pressed() bool {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.b.pressed[p.name]
}

// Press presses the button as Board.Press does.
func (p button) Press(ctx context.Context, hold time.Duration) error {
	return p.b.Press(ctx, p.name, hold)
}

type led struct {
	b    *Board
	name string
}

func (l led) Name() string { return l.name }

func (l led) Set(s hal.LEDState) error {
	if s != hal.Off && s != hal.On && s != hal.Blink {
		return fmt.Errorf("mock board: LED %s: invalid state %d", l.name, int(s))
	}
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if l.b.closed {
		return ErrClosed
	}
	l.b.leds[l.name] = s
	return nil
}

func (l led) State() hal.LEDState {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	return l.b.leds[l.name]
}

type link struct{ b *Board }

func (l link) Name() string { return l.State().Name }
func (l link) State() hal.LinkState {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	return l.b.link
}
func (l link) Changes() <-chan hal.LinkState { return l.b.changes }

// SetCarrier sets the carrier as Board.SetLink does.
func (l link) SetCarrier(up bool) error { return l.b.SetLink(up) }
