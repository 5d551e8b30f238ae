package gpio

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
)

// LineRef names a GPIO line: by its line name (Name, e.g. "GPIO17", as
// gpioinfo shows it), or by Chip and Offset. A Chip given with a Name narrows
// the search for the name to that chip.
type LineRef struct {
	Name   string
	Chip   string // e.g. "gpiochip0": the chip's name, label or /dev path
	Offset int    // the line's offset on Chip; used when Name is empty
}

func (r LineRef) String() string {
	switch {
	case r.Name != "" && r.Chip != "":
		return r.Chip + " " + r.Name
	case r.Name != "":
		return r.Name
	default:
		return r.Chip + " offset " + strconv.Itoa(r.Offset)
	}
}

// ErrNoChip means the machine has no GPIO character device at all.
var ErrNoChip = errors.New("no GPIO chip on this machine (no /dev/gpiochip*)")

var (
	initOnce sync.Once
	initErr  error
)

func hostInit() error {
	initOnce.Do(func() {
		if _, err := host.Init(); err != nil {
			initErr = fmt.Errorf("periph host init: %w", err)
		}
	})
	return initErr
}

// OpenLine finds a line on this machine: on the GPIO character devices
// first, then (for a bare Name) in periph's registry, which also holds
// sysfs and SoC-driver pins.
func OpenLine(ref LineRef) (gpio.PinIO, error) {
	if err := hostInit(); err != nil {
		return nil, err
	}
	if ref.Chip == "" && ref.Name == "" {
		return nil, errors.New("no line name and no chip")
	}
	if ref.Chip == "" {
		for _, c := range gpioioctl.Chips {
			if l := c.ByName(ref.Name); l != nil {
				return l, nil
			}
		}
		if p := gpioreg.ByName(ref.Name); p != nil {
			return p, nil
		}
		if len(gpioioctl.Chips) == 0 {
			return nil, ErrNoChip
		}
		return nil, fmt.Errorf("no line named %s on %s", ref.Name, chipNames())
	}
	if len(gpioioctl.Chips) == 0 {
		return nil, ErrNoChip
	}
	chip := findChip(ref.Chip)
	if chip == nil {
		return nil, fmt.Errorf("no chip %s (have %s)", ref.Chip, chipNames())
	}
	if ref.Name != "" {
		if l := chip.ByName(ref.Name); l != nil {
			return l, nil
		}
		return nil, fmt.Errorf("no line named %s on %s", ref.Name, chip.Name())
	}
	if ref.Offset < 0 || ref.Offset >= chip.LineCount() {
		return nil, fmt.Errorf("offset %d out of range (%s has %d lines)", ref.Offset, chip.Name(), chip.LineCount())
	}
	return chip.ByNumber(ref.Offset), nil
}

func findChip(name string) *gpioioctl.GPIOChip {
	for _, c := range gpioioctl.Chips {
		if c.Name() == name || c.Label() == name || c.Path() == name || c.Path() == "/dev/"+name {
			return c
		}
	}
	return nil
}

func chipNames() string {
	var names []string
	for _, c := range gpioioctl.Chips {
		names = append(names, c.Name())
	}
	if len(names) == 0 {
		return "no chips"
	}
	return strings.Join(names, ", ")
}

// Open resolves every config's Line into its Pin and starts the panel. Two
// functions on the same line are refused: a button read from an LED's
// output line would never work, and the fault would be silent.
func Open(board string, buttons []ButtonConfig, leds []LEDConfig, opts Options) (*Panel, error) {
	users := map[gpio.PinIO]string{}
	claim := func(kind, name string, ref LineRef) (gpio.PinIO, error) {
		pin, err := OpenLine(ref)
		if err != nil {
			return nil, fmt.Errorf("gpio: board %s: %s %s: line %s: %w", board, kind, name, ref, err)
		}
		if other, ok := users[pin]; ok {
			return nil, fmt.Errorf("gpio: board %s: %s %s: line %s is already used by %s", board, kind, name, ref, other)
		}
		users[pin] = kind + " " + name
		return pin, nil
	}
	buttons = append([]ButtonConfig(nil), buttons...)
	leds = append([]LEDConfig(nil), leds...)
	for i := range buttons {
		pin, err := claim("button", buttons[i].Name, buttons[i].Line)
		if err != nil {
			return nil, err
		}
		buttons[i].Pin = pin
	}
	for i := range leds {
		pin, err := claim("LED", leds[i].Name, leds[i].Line)
		if err != nil {
			return nil, err
		}
		leds[i].Pin = pin
	}
	return New(board, buttons, leds, opts)
}
