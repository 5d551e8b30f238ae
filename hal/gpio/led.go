package gpio

import (
	"fmt"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"consoled/hal"
)

// led is one output line. Its state and every write to its line are guarded
// by the panel's mutex, so a blink tick can never undo a Set.
type led struct {
	p         *Panel
	name      string
	pin       gpio.PinIO
	activeLow bool
	state     hal.LEDState
	failing   bool // the last write failed; log only the change
}

func newLED(p *Panel, c LEDConfig) (*led, error) {
	l := &led{p: p, name: c.Name, pin: c.Pin, activeLow: c.ActiveLow}
	if err := l.write(); err != nil {
		return nil, fmt.Errorf("gpio: board %s: LED %s: line %s: %w", p.board, l.name, l.pin.Name(), err)
	}
	return l, nil
}

func (l *led) Name() string { return l.name }

func (l *led) State() hal.LEDState {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.state
}

// Set shows s at once; a blinking LED joins the panel's current phase.
func (l *led) Set(s hal.LEDState) error {
	if s != hal.Off && s != hal.On && s != hal.Blink {
		return fmt.Errorf("gpio: board %s: LED %s: invalid state %d", l.p.board, l.name, int(s))
	}
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	if l.p.closed {
		return ErrClosed
	}
	l.state = s
	if err := l.write(); err != nil {
		return fmt.Errorf("gpio: board %s: LED %s: line %s: %w", l.p.board, l.name, l.pin.Name(), err)
	}
	return nil
}

// write drives the line for the current state and phase. The caller holds
// the panel's mutex (or owns the panel, as New does).
func (l *led) write() error {
	lit := l.state == hal.On || (l.state == hal.Blink && l.p.phase)
	return l.pin.Out(gpio.Level(lit != l.activeLow))
}

// blink flips the phase on every tick and redraws the blinking LEDs. One
// ticker for the panel keeps them in phase.
func (p *Panel) blink(ticker clockwork.Ticker) {
	defer p.wg.Done()
	defer ticker.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-ticker.Chan():
			p.mu.Lock()
			p.phase = !p.phase
			for _, l := range p.leds {
				if l.state != hal.Blink {
					continue
				}
				err := l.write()
				if (err != nil) != l.failing {
					l.failing = err != nil
					if err != nil {
						p.log.Warn("gpio: LED write failing", "led", l.name, "line", l.pin.Name(), "err", err)
					} else {
						p.log.Info("gpio: LED write working again", "led", l.name, "line", l.pin.Name())
					}
				}
			}
			p.mu.Unlock()
		}
	}
}
