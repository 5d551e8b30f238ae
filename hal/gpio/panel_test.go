package gpio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"consoled/hal"
)

// rig is a panel over gpiotest fakes and a fake clock.
type rig struct {
	t     *testing.T
	clock *clockwork.FakeClock
	p     *Panel
	btn   map[string]*gpiotest.Pin
	led   map[string]*gpiotest.Pin
	sent  map[string]int64 // samples sent per button
}

type rigOpts struct {
	activeLow bool
	debounce  map[string]time.Duration
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	r := &rig{
		t:     t,
		clock: clockwork.NewFakeClockAt(time.Date(2025, 1, 1, 20, 0, 0, 0, time.UTC)),
		btn:   map[string]*gpiotest.Pin{},
		led:   map[string]*gpiotest.Pin{},
		sent:  map[string]int64{},
	}
	var buttons []ButtonConfig
	var leds []LEDConfig
	for i, n := range hal.ButtonNames {
		// The pin's own clock only times WaitForEdge's bound, which is
		// real time on hardware too; debounce runs on the fake clock.
		pin := &gpiotest.Pin{N: "B" + n, Num: i, EdgesChan: make(chan gpio.Level), Clock: clockwork.NewRealClock()}
		r.btn[n] = pin
		buttons = append(buttons, ButtonConfig{Name: n, Pin: pin, ActiveLow: o.activeLow, Debounce: o.debounce[n]})
	}
	for i, n := range hal.LEDNames {
		pin := &gpiotest.Pin{N: "L" + n, Num: 10 + i, Clock: clockwork.NewRealClock()}
		r.led[n] = pin
		leds = append(leds, LEDConfig{Name: n, Pin: pin, ActiveLow: o.activeLow})
	}
	p, err := New("test", buttons, leds, Options{Clock: r.clock, EdgeWait: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	t.Cleanup(func() { _ = p.Close() })
	return r
}

func (r *rig) button(name string) *button {
	b, ok := r.p.Button(name)
	if !ok {
		r.t.Fatalf("no button %s", name)
	}
	return b.(*button)
}

// edge makes the line of button name go to level, as the hardware would,
// and waits until the debouncer has taken the sample in.
func (r *rig) edge(name string, level gpio.Level) {
	r.t.Helper()
	r.btn[name].EdgesChan <- level
	r.sent[name]++
	b := r.button(name)
	want := r.sent[name]
	waitFor(r.t, func() bool { return b.taken.Load() >= want }, "debouncer to take the sample of "+name)
}

// press and release in terms of the button, whatever the line polarity.
func (r *rig) press(name string, activeLow bool)   { r.edge(name, gpio.Level(!activeLow)) }
func (r *rig) release(name string, activeLow bool) { r.edge(name, gpio.Level(activeLow)) }

func (r *rig) next() hal.ButtonEvent {
	r.t.Helper()
	select {
	case ev, ok := <-r.p.Buttons():
		if !ok {
			r.t.Fatal("Buttons channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		r.t.Fatal("no button event within 5s")
	}
	return hal.ButtonEvent{}
}

func (r *rig) expect(ev hal.ButtonEvent, button string, pressed bool, at time.Time) {
	r.t.Helper()
	if ev.Button != button || ev.Pressed != pressed || !ev.At.Equal(at) {
		r.t.Fatalf("event %v, want %v", ev, hal.ButtonEvent{Button: button, Pressed: pressed, At: at})
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestShortPress(t *testing.T) {
	for _, activeLow := range []bool{true, false} {
		t.Run(map[bool]string{true: "active-low", false: "active-high"}[activeLow], func(t *testing.T) {
			r := newRig(t, rigOpts{activeLow: activeLow})
			// The pull keeps an open button reading released.
			wantPull := map[bool]gpio.Pull{true: gpio.PullUp, false: gpio.PullDown}[activeLow]
			if got := r.btn[hal.ButtonLaunch].P; got != wantPull {
				t.Fatalf("pull %s, want %s", got, wantPull)
			}
			b := r.button(hal.ButtonLaunch)
			if b.Pressed() {
				t.Fatal("pressed at start")
			}
			t0 := r.clock.Now()
			r.press(hal.ButtonLaunch, activeLow)
			if b.Pressed() {
				t.Fatal("pressed before the debounce time passed")
			}
			r.clock.Advance(DefaultDebounce)
			r.expect(r.next(), hal.ButtonLaunch, true, t0)
			if !b.Pressed() {
				t.Fatal("not pressed after the press event")
			}

			r.clock.Advance(80 * time.Millisecond)
			t1 := r.clock.Now()
			r.release(hal.ButtonLaunch, activeLow)
			r.clock.Advance(DefaultDebounce)
			r.expect(r.next(), hal.ButtonLaunch, false, t1)
			if b.Pressed() {
				t.Fatal("still pressed after the release event")
			}
		})
	}
}

func TestBounceRejected(t *testing.T) {
	r := newRig(t, rigOpts{activeLow: true})
	// Contact bounce on a released button: every pulse is shorter than the
	// debounce time and the line ends where it started.
	for i := 0; i < 3; i++ {
		r.edge(hal.ButtonLaunch, gpio.Low)
		r.clock.Advance(5 * time.Millisecond)
		r.edge(hal.ButtonLaunch, gpio.High)
		r.clock.Advance(5 * time.Millisecond)
	}
	r.clock.Advance(time.Second)

	// A press that bounces: the level counts from the last edge on.
	r.edge(hal.ButtonLaunch, gpio.Low)
	r.clock.Advance(DefaultDebounce - time.Millisecond)
	r.edge(hal.ButtonLaunch, gpio.High)
	r.clock.Advance(2 * time.Millisecond)
	settled := r.clock.Now()
	r.edge(hal.ButtonLaunch, gpio.Low)
	r.clock.Advance(DefaultDebounce - time.Millisecond)
	if r.button(hal.ButtonLaunch).Pressed() {
		t.Fatal("pressed before the line held Low for the debounce time")
	}
	r.clock.Advance(time.Millisecond)
	// The first event must be this press: none of the bounce above made one.
	r.expect(r.next(), hal.ButtonLaunch, true, settled)
}

func TestHoldThreeSeconds(t *testing.T) {
	r := newRig(t, rigOpts{activeLow: true})
	t0 := r.clock.Now()
	r.press(hal.ButtonLaunch, true)
	r.clock.Advance(DefaultDebounce)
	press := r.next()
	r.expect(press, hal.ButtonLaunch, true, t0)

	b := r.button(hal.ButtonLaunch)
	for i := 0; i < 30; i++ {
		r.clock.Advance(100 * time.Millisecond)
		if !b.Pressed() {
			t.Fatalf("released after %s of a hold", r.clock.Since(t0))
		}
	}
	t1 := r.clock.Now()
	r.release(hal.ButtonLaunch, true)
	r.clock.Advance(DefaultDebounce)
	release := r.next()
	r.expect(release, hal.ButtonLaunch, false, t1)
	if held := release.At.Sub(press.At); held != 3*time.Second+DefaultDebounce {
		t.Fatalf("held %s, want %s", held, 3*time.Second+DefaultDebounce)
	}
}

func TestPerButtonDebounce(t *testing.T) {
	r := newRig(t, rigOpts{activeLow: true, debounce: map[string]time.Duration{hal.ButtonLaunch: 50 * time.Millisecond}})
	t0 := r.clock.Now()
	r.press(hal.ButtonLaunch, true)
	r.press(hal.ButtonLogoff, true)
	r.clock.Advance(DefaultDebounce)
	// logoff has the default 20 ms; launch must wait for its own 50 ms.
	r.expect(r.next(), hal.ButtonLogoff, true, t0)
	r.clock.Advance(30 * time.Millisecond)
	r.expect(r.next(), hal.ButtonLaunch, true, t0)
}

func TestLostEdgeIsRecovered(t *testing.T) {
	r := newRig(t, rigOpts{activeLow: true})
	t0 := r.clock.Now()
	// The line changes without an edge event: the reader's next timed-out
	// wait sees the new level.
	pin := r.btn[hal.ButtonLogoff]
	pin.Lock()
	pin.L = gpio.Low
	pin.Unlock()
	b := r.button(hal.ButtonLogoff)
	waitFor(t, func() bool { return b.taken.Load() == 1 }, "the level change to be noticed")
	r.clock.Advance(DefaultDebounce)
	r.expect(r.next(), hal.ButtonLogoff, true, t0)
}

func ledLit(pin *gpiotest.Pin, activeLow bool) bool { return pin.Read() != gpio.Level(activeLow) }

func TestLEDLevels(t *testing.T) {
	for _, activeLow := range []bool{true, false} {
		t.Run(map[bool]string{true: "active-low", false: "active-high"}[activeLow], func(t *testing.T) {
			r := newRig(t, rigOpts{activeLow: activeLow})
			for _, n := range hal.LEDNames {
				if got, off := r.led[n].Read(), gpio.Level(activeLow); got != off {
					t.Fatalf("LED %s line %s at start, want %s (off)", n, got, off)
				}
			}
			l, _ := r.p.LED(hal.LEDFault)
			pin := r.led[hal.LEDFault]
			if err := l.Set(hal.On); err != nil {
				t.Fatal(err)
			}
			if got, want := pin.Read(), gpio.Level(!activeLow); got != want {
				t.Fatalf("lit LED line %s, want %s", got, want)
			}
			if l.State() != hal.On {
				t.Fatalf("state %s, want on", l.State())
			}
			if err := l.Set(hal.Off); err != nil {
				t.Fatal(err)
			}
			if got, want := pin.Read(), gpio.Level(activeLow); got != want {
				t.Fatalf("dark LED line %s, want %s", got, want)
			}
			if err := l.Set(hal.LEDState(7)); err == nil {
				t.Fatal("Set(7) succeeded")
			}

			// Close turns every LED off, whatever it showed.
			for _, n := range hal.LEDNames {
				l, _ := r.p.LED(n)
				if err := l.Set(hal.On); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.p.Close(); err != nil {
				t.Fatal(err)
			}
			for _, n := range hal.LEDNames {
				if ledLit(r.led[n], activeLow) {
					t.Fatalf("LED %s lit after Close", n)
				}
			}
		})
	}
}

func TestBlinkInPhase(t *testing.T) {
	for _, activeLow := range []bool{true, false} {
		t.Run(map[bool]string{true: "active-low", false: "active-high"}[activeLow], func(t *testing.T) {
			r := newRig(t, rigOpts{activeLow: activeLow})
			sync, _ := r.p.LED(hal.LEDSync)
			fault, _ := r.p.LED(hal.LEDFault)
			active, _ := r.p.LED(hal.LEDActive)
			syncPin, faultPin, activePin := r.led[hal.LEDSync], r.led[hal.LEDFault], r.led[hal.LEDActive]

			if err := sync.Set(hal.Blink); err != nil {
				t.Fatal(err)
			}
			if err := active.Set(hal.On); err != nil {
				t.Fatal(err)
			}
			if !ledLit(syncPin, activeLow) {
				t.Fatal("a blinking LED starts dark in the lit phase")
			}
			r.clock.Advance(BlinkHalfPeriod)
			waitFor(t, func() bool { return !ledLit(syncPin, activeLow) }, "sync to go dark on the tick")

			// fault joins the running phase: dark now, like sync.
			if err := fault.Set(hal.Blink); err != nil {
				t.Fatal(err)
			}
			if ledLit(faultPin, activeLow) {
				t.Fatal("fault joined the blink out of phase")
			}
			for i := 0; i < 6; i++ {
				r.clock.Advance(BlinkHalfPeriod)
				lit := i%2 == 0
				waitFor(t, func() bool { return ledLit(syncPin, activeLow) == lit }, "sync to toggle on the tick")
				if ledLit(faultPin, activeLow) != lit {
					t.Fatalf("tick %d: fault lit=%t, sync lit=%t: out of phase", i, !lit, lit)
				}
				if !ledLit(activePin, activeLow) {
					t.Fatalf("tick %d: steady LED went dark", i)
				}
			}
			if sync.State() != hal.Blink {
				t.Fatalf("state %s, want blink", sync.State())
			}
		})
	}
}

func TestClose(t *testing.T) {
	r := newRig(t, rigOpts{activeLow: true})
	if err := r.p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-r.p.Buttons(); ok {
		t.Fatal("Buttons not closed")
	}
	l, _ := r.p.LED(hal.LEDLink)
	if err := l.Set(hal.On); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
	if err := r.p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewRejectsIncompleteBoards(t *testing.T) {
	pin := func(n string) *gpiotest.Pin {
		return &gpiotest.Pin{N: n, EdgesChan: make(chan gpio.Level), Clock: clockwork.NewRealClock()}
	}
	full := func() ([]ButtonConfig, []LEDConfig) {
		var bs []ButtonConfig
		var ls []LEDConfig
		for _, n := range hal.ButtonNames {
			bs = append(bs, ButtonConfig{Name: n, Pin: pin(n)})
		}
		for _, n := range hal.LEDNames {
			ls = append(ls, LEDConfig{Name: n, Pin: pin(n)})
		}
		return bs, ls
	}
	cases := []struct {
		name   string
		change func([]ButtonConfig, []LEDConfig) ([]ButtonConfig, []LEDConfig)
		want   string
	}{
		{"missing button", func(b []ButtonConfig, l []LEDConfig) ([]ButtonConfig, []LEDConfig) { return b[:1], l },
			"gpio: board bench: buttons: function logoff missing"},
		{"unknown LED", func(b []ButtonConfig, l []LEDConfig) ([]ButtonConfig, []LEDConfig) {
			l[0].Name = "power"
			return b, l
		}, `gpio: board bench: LEDs: unknown function "power"`},
		{"twice", func(b []ButtonConfig, l []LEDConfig) ([]ButtonConfig, []LEDConfig) {
			return append(b, b[0]), l
		}, "gpio: board bench: buttons: function launch given twice"},
		{"no pin", func(b []ButtonConfig, l []LEDConfig) ([]ButtonConfig, []LEDConfig) {
			l[2].Pin = nil
			return b, l
		}, "gpio: board bench: LED sync: no pin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, l := c.change(full())
			p, err := New("bench", b, l, Options{})
			if err == nil {
				p.Close()
				t.Fatal("New succeeded")
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error %q, want it to start with %q", err, c.want)
			}
		})
	}
}

func TestOpenWithoutGPIOChip(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skip("this machine has GPIO chips; the test is for one without")
	}
	if _, err := os.Stat("/sys/class/gpio"); err == nil {
		t.Log("sysfs GPIO present; names may still resolve there")
	}
	var bs []ButtonConfig
	for _, n := range hal.ButtonNames {
		bs = append(bs, ButtonConfig{Name: n, Line: LineRef{Name: "GPIO17"}})
	}
	_, err := Open("rpi", bs, nil, Options{})
	if err == nil {
		t.Fatal("Open succeeded without a GPIO chip")
	}
	want := "gpio: board rpi: button launch: line GPIO17: "
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q, want one line starting %q", err, want)
	}
	t.Logf("Open: %v", err)
	if _, err := OpenLine(LineRef{Chip: "gpiochip0", Offset: 17}); !errors.Is(err, ErrNoChip) {
		t.Fatalf("OpenLine(gpiochip0 17): %v, want ErrNoChip", err)
	}
}
