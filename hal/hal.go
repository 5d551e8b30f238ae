// Package hal is the hardware abstraction layer of a console's front panel and
// NIC: the interfaces and event types only, no I/O. Drivers live apart:
// hal/mock (in memory), hal/gpio (periph.io) and hal/netlink (the NIC).
//
// The shape follows periph.io's conn/gpio: small interfaces, a fake beside
// them, drivers elsewhere, and optional capabilities (ButtonPresser,
// LinkSetter) that a driver implements where it can and a caller checks by
// type assertion.
package hal

import (
	"context"
	"fmt"
	"time"
)

// The front panel's functions. Board files and the mock board use these names.
const (
	ButtonLaunch = "launch"
	ButtonLogoff = "logoff"

	LEDActive = "active"
	LEDBackup = "backup"
	LEDSync   = "sync"
	LEDLink   = "link"
	LEDFault  = "fault"
)

// ButtonNames and LEDNames list every function a board must provide, in panel order.
var (
	ButtonNames = []string{ButtonLaunch, ButtonLogoff}
	LEDNames    = []string{LEDActive, LEDBackup, LEDSync, LEDLink, LEDFault}
)

// ButtonEvent is one debounced edge of a front-panel button.
type ButtonEvent struct {
	Button  string    // function name, e.g. ButtonLaunch
	Pressed bool      // true on press, false on release
	At      time.Time // when the (debounced) edge happened, on the board's clock
}

func (e ButtonEvent) String() string {
	edge := "release"
	if e.Pressed {
		edge = "press"
	}
	return fmt.Sprintf("%s %s at %s", e.Button, edge, e.At.Format(time.RFC3339Nano))
}

// Button is one push button. Edges arrive on the board's Buttons channel.
type Button interface {
	Name() string
	// Pressed reports the current debounced level.
	Pressed() bool
}

// ButtonPresser is a Button that software can press: the mock board's, or
// a test jig's relay across a real one. Check for it by type assertion.
type ButtonPresser interface {
	Button
	// Press presses the button, holds it for hold (a tap when 0) and
	// releases it. It returns after the release, or early with ctx's error,
	// releasing the button.
	Press(ctx context.Context, hold time.Duration) error
}

// LEDState is what an LED shows.
type LEDState int

const (
	Off LEDState = iota
	On
	Blink
)

func (s LEDState) String() string {
	switch s {
	case Off:
		return "off"
	case On:
		return "on"
	case Blink:
		return "blink"
	}
	return fmt.Sprintf("LEDState(%d)", int(s))
}

// ParseLEDState is the inverse of LEDState.String.
func ParseLEDState(s string) (LEDState, error) {
	switch s {
	case "off":
		return Off, nil
	case "on":
		return On, nil
	case "blink":
		return Blink, nil
	}
	return Off, fmt.Errorf("hal: unknown LED state %q (want off, on or blink)", s)
}

// LED is one status LED. Blinking is the driver's job, so a stuck service
// loop cannot freeze an LED half way through a blink.
type LED interface {
	Name() string
	Set(LEDState) error
	State() LEDState
}

// LinkState is the NIC's state at one moment.
type LinkState struct {
	Name    string    // interface name, e.g. "eth0"
	Present bool      // false when the interface does not exist (removed or renamed)
	Up      bool      // carrier: true when the cable is in and the far end is up
	At      time.Time // when this state was observed
}

func (s LinkState) String() string {
	switch {
	case !s.Present:
		return s.Name + " absent"
	case s.Up:
		return s.Name + " up"
	default:
		return s.Name + " down"
	}
}

// Link is the console's show-network NIC.
type Link interface {
	Name() string
	State() LinkState
	// Changes delivers every change of State. It is closed by the board's Close.
	Changes() <-chan LinkState
}

// LinkSetter is a Link whose carrier software can set, as pulling or
// plugging the cable would: the mock board's. Check for it by type
// assertion.
type LinkSetter interface {
	Link
	SetCarrier(up bool) error
}

// BlinkClock is a board whose blinking LEDs all keep one rhythm: dark for
// half a period from epoch, then lit for half a period, and so on. The web
// panel blinks its LEDs in the same phase. Check for it by type assertion.
type BlinkClock interface {
	BlinkClock() (epoch time.Time, half time.Duration)
}

// BlinkHalfPeriod is how long a blinking LED stays lit, and then dark (2 Hz).
const BlinkHalfPeriod = 250 * time.Millisecond

// Board is a console's front panel and NIC: the named set of buttons and LEDs
// (every name in ButtonNames and LEDNames) and one link.
type Board interface {
	// Name says which board this is, e.g. "mock" or a board file's path.
	Name() string
	Button(name string) (Button, bool)
	LED(name string) (LED, bool)
	// Buttons delivers the debounced edges of every button, in order.
	// It is closed by Close.
	Buttons() <-chan ButtonEvent
	Link() Link
	// Close releases the lines and the NIC monitor and turns the LEDs off.
	Close() error
}
