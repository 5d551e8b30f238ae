package gpio

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"consoled/hal"
)

const (
	// DefaultDebounce is how long a button must hold a new level to count.
	DefaultDebounce = 20 * time.Millisecond
	// BlinkHalfPeriod is how long a blinking LED stays lit and then dark (2 Hz).
	BlinkHalfPeriod = hal.BlinkHalfPeriod
	// DefaultEdgeWait bounds one wait for a button edge. Halt interrupts the
	// wait on character-device lines; the bound covers lines whose Halt cannot
	// (sysfs, fakes), so Close never waits longer than this.
	DefaultEdgeWait = 250 * time.Millisecond
)

// ErrClosed is returned by LED.Set after the panel is closed.
var ErrClosed = errors.New("gpio: panel closed")

// ButtonConfig wires one front-panel button.
type ButtonConfig struct {
	Name string     // function, one of hal.ButtonNames
	Line LineRef    // where it is wired; Open resolves it into Pin
	Pin  gpio.PinIO // the line itself; New needs it, Open fills it
	// ActiveLow: the button pulls the line Low when pressed (wired to ground).
	ActiveLow bool
	// Pull is the line bias. PullNoChange picks the one that reads released
	// with the button open: up for active-low, down otherwise. Float leaves
	// the line to an external resistor.
	Pull     gpio.Pull
	Debounce time.Duration // 0: DefaultDebounce
}

// LEDConfig wires one status LED.
type LEDConfig struct {
	Name      string     // function, one of hal.LEDNames
	Line      LineRef    // where it is wired; Open resolves it into Pin
	Pin       gpio.PinIO // the line itself; New needs it, Open fills it
	ActiveLow bool       // the LED lights when the line is driven Low
}

// Options tune a panel. The zero value is usable.
type Options struct {
	Clock    clockwork.Clock // debounce, event times and blinking; default real
	Logger   *slog.Logger    // default slog.Default()
	EdgeWait time.Duration   // default DefaultEdgeWait
	Queue    int             // capacity of the Buttons channel; default 64
}

// Panel is a board's buttons and LEDs on GPIO lines. It implements every
// part of hal.Board except Link and Name, which the board package adds.
type Panel struct {
	board  string
	clock  clockwork.Clock
	log    *slog.Logger
	wait   time.Duration
	events chan hal.ButtonEvent
	done   chan struct{}
	wg     sync.WaitGroup

	buttons []*button
	leds    []*led

	mu     sync.Mutex // guards the fields below and every LED line write
	phase  bool       // blink phase: true while blinking LEDs are lit
	epoch  time.Time  // when the blink ticker started (phase false)
	closed bool

	closeOnce sync.Once
}

// New configures the lines (buttons as inputs with edge detection, LEDs as
// outputs, all off) and starts the panel. The configs must name every
// function in hal.ButtonNames and hal.LEDNames exactly once.
func New(board string, buttons []ButtonConfig, leds []LEDConfig, opts Options) (*Panel, error) {
	if err := checkFunctions(board, buttons, leds); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EdgeWait <= 0 {
		opts.EdgeWait = DefaultEdgeWait
	}
	if opts.Queue <= 0 {
		opts.Queue = 64
	}
	p := &Panel{
		board:  board,
		clock:  opts.Clock,
		log:    opts.Logger.With("board", board),
		wait:   opts.EdgeWait,
		events: make(chan hal.ButtonEvent, opts.Queue),
		done:   make(chan struct{}),
		phase:  true,
	}
	for _, c := range leds {
		l, err := newLED(p, c)
		if err != nil {
			p.release()
			return nil, err
		}
		p.leds = append(p.leds, l)
	}
	for _, c := range buttons {
		b, err := newButton(p, c)
		if err != nil {
			p.release()
			return nil, err
		}
		p.buttons = append(p.buttons, b)
	}
	for _, b := range p.buttons {
		p.wg.Add(2)
		go b.readEdges()
		go b.debounceLoop()
	}
	// The ticker is made here, not in the goroutine, so that it exists (and a
	// fake clock counts it) as soon as New returns.
	ticker := p.clock.NewTicker(BlinkHalfPeriod)
	p.epoch = p.clock.Now()
	p.wg.Add(1)
	go p.blink(ticker)
	return p, nil
}

func checkFunctions(board string, buttons []ButtonConfig, leds []LEDConfig) error {
	var bn, ln []string
	for _, c := range buttons {
		if c.Pin == nil {
			return fmt.Errorf("gpio: board %s: button %s: no pin", board, c.Name)
		}
		bn = append(bn, c.Name)
	}
	for _, c := range leds {
		if c.Pin == nil {
			return fmt.Errorf("gpio: board %s: LED %s: no pin", board, c.Name)
		}
		ln = append(ln, c.Name)
	}
	if err := sameNames(bn, hal.ButtonNames); err != nil {
		return fmt.Errorf("gpio: board %s: buttons: %w", board, err)
	}
	if err := sameNames(ln, hal.LEDNames); err != nil {
		return fmt.Errorf("gpio: board %s: LEDs: %w", board, err)
	}
	return nil
}

// sameNames says how got differs from the set want.
func sameNames(got, want []string) error {
	seen := map[string]bool{}
	for _, n := range got {
		if !slices.Contains(want, n) {
			return fmt.Errorf("unknown function %q (want %v)", n, want)
		}
		if seen[n] {
			return fmt.Errorf("function %s given twice", n)
		}
		seen[n] = true
	}
	for _, n := range want {
		if !seen[n] {
			return fmt.Errorf("function %s missing", n)
		}
	}
	return nil
}

// Board is the name the panel was opened under.
func (p *Panel) Board() string { return p.board }

// BlinkClock is the rhythm of the blinking LEDs: the ticker flips the phase
// to lit one half period after epoch, and back every half period.
func (p *Panel) BlinkClock() (time.Time, time.Duration) { return p.epoch, BlinkHalfPeriod }

// Button returns the named button.
func (p *Panel) Button(name string) (hal.Button, bool) {
	for _, b := range p.buttons {
		if b.name == name {
			return b, true
		}
	}
	return nil, false
}

// LED returns the named LED.
func (p *Panel) LED(name string) (hal.LED, bool) {
	for _, l := range p.leds {
		if l.name == name {
			return l, true
		}
	}
	return nil, false
}

// Buttons delivers every button's debounced edges. Close closes it.
func (p *Panel) Buttons() <-chan hal.ButtonEvent { return p.events }

func (p *Panel) emit(ev hal.ButtonEvent) {
	select {
	case p.events <- ev:
	case <-p.done:
	}
}

// Close stops the goroutines, turns the LEDs off, releases the lines and
// closes the Buttons channel. It is idempotent.
func (p *Panel) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.done)
		for _, b := range p.buttons {
			// Interrupts a pending WaitForEdge where the line supports it.
			_ = b.pin.Halt()
		}
		p.wg.Wait()
		close(p.events)

		p.mu.Lock()
		p.closed = true
		var errs []error
		for _, l := range p.leds {
			l.state = hal.Off
			errs = append(errs, l.write())
		}
		p.mu.Unlock()
		p.release()
		err = errors.Join(errs...)
	})
	return err
}

// release gives the lines back to the kernel, so another program (or the
// next run) can request them.
func (p *Panel) release() {
	for _, b := range p.buttons {
		closePin(b.pin)
	}
	for _, l := range p.leds {
		closePin(l.pin)
	}
}

func closePin(pin gpio.PinIO) {
	switch c := pin.(type) {
	case interface{ Close() error }:
		_ = c.Close()
	case interface{ Close() }:
		c.Close()
	}
}
