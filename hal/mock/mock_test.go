package mock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/hal"
)

func TestPressAndHoldOnTheBoardClock(t *testing.T) {
	clk := clockwork.NewFakeClock()
	b := New(Options{Clock: clk})
	defer b.Close()
	t0 := clk.Now()
	if err := b.Press(context.Background(), hal.ButtonLogoff, 0); err != nil {
		t.Fatal(err)
	}
	down, up := <-b.Buttons(), <-b.Buttons()
	if down != (hal.ButtonEvent{Button: hal.ButtonLogoff, Pressed: true, At: t0}) || up.Pressed || up.Button != hal.ButtonLogoff {
		t.Fatalf("tap: %v, %v", down, up)
	}

	done := make(chan error, 1)
	go func() { done <- b.Press(context.Background(), hal.ButtonLaunch, 3*time.Second) }()
	if ev := <-b.Buttons(); !ev.Pressed || ev.Button != hal.ButtonLaunch {
		t.Fatalf("hold began with %v", ev)
	}
	if btn, _ := b.Button(hal.ButtonLaunch); !btn.Pressed() {
		t.Fatal("launch not down during the hold")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ev := <-b.Buttons(); ev.Pressed || ev.At.Sub(t0) != 3*time.Second {
		t.Fatalf("hold ended with %v, want a release 3s after the press", ev)
	}
}

func TestPressCancelledReleases(t *testing.T) {
	b := New(Options{Clock: clockwork.NewFakeClock()})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Press(ctx, hal.ButtonLaunch, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	<-b.Buttons()
	if ev := <-b.Buttons(); ev.Pressed {
		t.Fatal("a cancelled hold left the button down")
	}
}

func TestUnknownNamesAndLEDs(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	if err := b.Down("go"); err == nil {
		t.Fatal("unknown button pressed")
	}
	if _, ok := b.LED("power"); ok {
		t.Fatal("unknown LED found")
	}
	for _, n := range hal.LEDNames {
		if b.LEDs()[n] != hal.Off {
			t.Fatalf("%s not off at start", n)
		}
	}
	led, _ := b.LED(hal.LEDFault)
	if err := led.Set(hal.Blink); err != nil || led.State() != hal.Blink || b.LEDs()[hal.LEDFault] != hal.Blink {
		t.Fatalf("fault LED: %v %v", err, led.State())
	}
	if err := led.Set(hal.LEDState(7)); err == nil {
		t.Fatal("invalid LED state accepted")
	}
}

func TestLinkChangesAndClose(t *testing.T) {
	b := New(Options{NIC: "eth9"})
	if st := b.Link().State(); !st.Up || !st.Present || st.Name != "eth9" {
		t.Fatalf("link at start: %v", st)
	}
	b.SetLink(true) // no change, no event
	b.SetLink(false)
	if ev := <-b.Link().Changes(); ev.Up {
		t.Fatalf("change %v", ev)
	}
	if b.Link().State().Up {
		t.Fatal("state still up")
	}
	led, _ := b.LED(hal.LEDActive)
	led.Set(hal.On)
	b.Close()
	if _, ok := <-b.Buttons(); ok {
		t.Fatal("buttons channel open after Close")
	}
	if _, ok := <-b.Link().Changes(); ok {
		t.Fatal("link channel open after Close")
	}
	if led.State() != hal.Off {
		t.Fatal("Close left an LED on")
	}
	if err := b.SetLink(true); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetLink after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// The board's capabilities, found by type assertion as the service finds
// them, drive the board as its own methods do.
func TestCapabilities(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	btn, _ := b.Button(hal.ButtonLogoff)
	p, ok := btn.(hal.ButtonPresser)
	if !ok {
		t.Fatal("a mock button is not a hal.ButtonPresser")
	}
	if err := p.Press(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if down, up := <-b.Buttons(), <-b.Buttons(); !down.Pressed || up.Pressed || down.Button != hal.ButtonLogoff {
		t.Fatalf("press through the capability: %v, %v", down, up)
	}
	ls, ok := b.Link().(hal.LinkSetter)
	if !ok {
		t.Fatal("the mock link is not a hal.LinkSetter")
	}
	if err := ls.SetCarrier(false); err != nil {
		t.Fatal(err)
	}
	if st := <-b.Link().Changes(); st.Up || b.Link().State().Up {
		t.Fatalf("carrier still up after SetCarrier(false): %v", st)
	}
}
