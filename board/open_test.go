package board

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"consoled/hal"
	"consoled/hal/mock"
)

func noGPIOChip(t *testing.T) {
	t.Helper()
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skip("skipped: this machine has GPIO chips; the test is for one without")
	}
}

func TestOpenMock(t *testing.T) {
	b, err := Open("mock")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.(*mock.Board); !ok {
		t.Fatalf("Open(mock) returned %T, want *mock.Board", b)
	}
	if _, ok := b.Link().(hal.LinkSetter); !ok {
		t.Fatal("the mock board's link is not a hal.LinkSetter")
	}
	for _, n := range hal.ButtonNames {
		if _, ok := b.Button(n); !ok {
			t.Errorf("no button %s", n)
		}
	}
}

func TestOpenMockWithRealNIC(t *testing.T) {
	// lo exists in every network namespace.
	b, err := Open("mock,nic=lo")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "mock,nic=lo" || b.Link().Name() != "lo" {
		t.Fatalf("name %q link %q", b.Name(), b.Link().Name())
	}
	if s := b.Link().State(); !s.Present {
		t.Fatalf("lo: %v", s)
	}
	btn, _ := b.Button(hal.ButtonLogoff)
	p, ok := btn.(hal.ButtonPresser)
	if !ok {
		t.Fatal("mock,nic's buttons are not hal.ButtonPressers")
	}
	if _, ok := b.Link().(hal.LinkSetter); ok {
		t.Fatal("mock,nic's real NIC is a hal.LinkSetter")
	}
	if err := p.Press(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-b.Buttons():
		if ev.Button != hal.ButtonLogoff || !ev.Pressed {
			t.Fatalf("event %v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("press not delivered on the board's Buttons")
	}
	l, _ := b.LED(hal.LEDSync)
	if err := l.Set(hal.Blink); err != nil {
		t.Fatal(err)
	}
	if l.State() != hal.Blink {
		t.Fatal("LED set on the board not read back")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-b.Link().Changes(); ok {
		t.Fatal("link Changes open after Close")
	}
}

func TestHardwareBoardCapabilities(t *testing.T) {
	var b hal.Board = &gpioBoard{}
	if _, ok := b.Link().(hal.LinkSetter); ok {
		t.Fatal("a GPIO board's NIC is a hal.LinkSetter")
	}
}

func TestOpenBadSpecs(t *testing.T) {
	cases := map[string]string{
		"nonsense":                       `board: unknown board "nonsense" (want mock, mock,nic=IFNAME, rpi, or a board file path)`,
		"mock,nic=":                      `board: "mock,nic=": bad interface name ""`,
		"mock,nic=averyveryverylongname": `board: "mock,nic=averyveryverylongname": bad interface name "averyveryverylongname"`,
		"mock,speed=fast":                `board: "mock,speed=fast": unknown option "speed=fast" (want nic=IFNAME)`,
		"/nonexistent/panel.yaml":        "board file /nonexistent/panel.yaml: no such file or directory",
	}
	for spec, want := range cases {
		b, err := Open(spec)
		if err == nil {
			b.Close()
			t.Errorf("Open(%q) succeeded", spec)
			continue
		}
		if err.Error() != want {
			t.Errorf("Open(%q): %q, want %q", spec, err, want)
		}
	}
}

func TestOpenRPiWithoutGPIO(t *testing.T) {
	noGPIOChip(t)
	b, err := Open("rpi")
	if err == nil {
		b.Close()
		t.Fatal("Open(rpi) succeeded on a machine without GPIO")
	}
	want := "gpio: board rpi: button launch: line GPIO17: no GPIO chip on this machine (no /dev/gpiochip*)"
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestOpenFileWithoutGPIO(t *testing.T) {
	noGPIOChip(t)
	path := filepath.Join(t.TempDir(), "panel.yaml")
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil {
		t.Fatal("Open succeeded without GPIO")
	}
	want := "gpio: board " + path + ": button launch: line GPIO17: "
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q, want one line starting %q", err, want)
	}
}
