package board

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	halgpio "consoled/hal/gpio"
)

const good = `
chip: gpiochip0
debounce: 25ms
nic: eth0
buttons:
  launch: {line: GPIO17, active_low: true}
  logoff: {chip: gpiochip1, offset: 27, active_low: true, debounce: 30ms, pull: none}
leds:
  active: {line: GPIO5}
  backup: {offset: 6}
  sync:   {offset: 13}
  link:   {offset: 19}
  fault:  {offset: 26, active_low: true}
`

func TestGoodFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "panel.yaml")
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	def, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if def.Name != path || def.NIC != "eth0" {
		t.Fatalf("name %q nic %q", def.Name, def.NIC)
	}
	wantButtons := []halgpio.ButtonConfig{
		{Name: "launch", Line: halgpio.LineRef{Name: "GPIO17"}, ActiveLow: true, Pull: gpio.PullNoChange, Debounce: 25 * time.Millisecond},
		{Name: "logoff", Line: halgpio.LineRef{Chip: "gpiochip1", Offset: 27}, ActiveLow: true, Pull: gpio.Float, Debounce: 30 * time.Millisecond},
	}
	if len(def.Buttons) != len(wantButtons) {
		t.Fatalf("%d buttons", len(def.Buttons))
	}
	for i, w := range wantButtons {
		if g := def.Buttons[i]; g != w {
			t.Errorf("button %d: %+v, want %+v", i, g, w)
		}
	}
	wantLEDs := []halgpio.LEDConfig{
		{Name: "active", Line: halgpio.LineRef{Name: "GPIO5"}},
		{Name: "backup", Line: halgpio.LineRef{Chip: "gpiochip0", Offset: 6}},
		{Name: "sync", Line: halgpio.LineRef{Chip: "gpiochip0", Offset: 13}},
		{Name: "link", Line: halgpio.LineRef{Chip: "gpiochip0", Offset: 19}},
		{Name: "fault", Line: halgpio.LineRef{Chip: "gpiochip0", Offset: 26}, ActiveLow: true},
	}
	if len(def.LEDs) != len(wantLEDs) {
		t.Fatalf("%d LEDs", len(def.LEDs))
	}
	for i, w := range wantLEDs {
		if g := def.LEDs[i]; g != w {
			t.Errorf("LED %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestDefaultDebounce(t *testing.T) {
	def, err := Parse("f.yaml", []byte(strings.Replace(good, "debounce: 25ms\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d := def.Buttons[0].Debounce; d != halgpio.DefaultDebounce {
		t.Fatalf("debounce %s, want the default %s", d, halgpio.DefaultDebounce)
	}
}

func TestRPiBuiltin(t *testing.T) {
	def, err := Parse("rpi", builtin["rpi"])
	if err != nil {
		t.Fatal(err)
	}
	// The table in doc.go and README.md.
	want := map[string]string{
		"launch": "GPIO17", "logoff": "GPIO27",
		"active": "GPIO5", "backup": "GPIO6", "sync": "GPIO13", "link": "GPIO19", "fault": "GPIO26",
	}
	for _, b := range def.Buttons {
		if b.Line.Name != want[b.Name] || !b.ActiveLow {
			t.Errorf("button %s on %v active_low=%t, want %s active-low", b.Name, b.Line, b.ActiveLow, want[b.Name])
		}
	}
	for _, l := range def.LEDs {
		if l.Line.Name != want[l.Name] || l.ActiveLow {
			t.Errorf("LED %s on %v active_low=%t, want %s active-high", l.Name, l.Line, l.ActiveLow, want[l.Name])
		}
	}
	if def.NIC != "eth0" {
		t.Errorf("nic %s", def.NIC)
	}
}

// edit returns the good file with old replaced by new (old must occur).
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(good, old) {
		t.Fatalf("test bug: %q not in the good file", old)
	}
	return strings.Replace(good, old, new, 1)
}

func TestFileErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "board file f.yaml: empty"},
		{"not yaml", "nic: [eth0", "board file f.yaml: line 1: did not find expected ',' or ']'"},
		{"unknown top key", edit(t, "nic: eth0", "nic: eth0\ncolour: red"), `board file f.yaml: line 5: unknown key "colour"`},
		{"unknown function key", edit(t, "{line: GPIO5}", "{line: GPIO5, blink: true}"), `board file f.yaml: line 9: unknown key "blink"`},
		{"debounce on an LED", edit(t, "{line: GPIO5}", "{line: GPIO5, debounce: 5ms}"), `board file f.yaml: line 9: unknown key "debounce"`},
		{"unknown button", edit(t, "  logoff:", "  lunch: {line: GPIO4}\n  logoff:"), `board file f.yaml: unknown button "lunch" (want launch, logoff)`},
		{"unknown led", edit(t, "  fault:", "  power: {offset: 3}\n  fault:"), `board file f.yaml: unknown led "power" (want active, backup, sync, link, fault)`},
		{"missing button", edit(t, "  launch: {line: GPIO17, active_low: true}\n", ""), "board file f.yaml: missing button launch"},
		{"missing led", edit(t, "  sync:   {offset: 13}\n", ""), "board file f.yaml: missing led sync"},
		{"no buttons", edit(t, "buttons:", "buttonz:"), `unknown key "buttonz"`},
		{"same line name", edit(t, "{line: GPIO5}", "{line: GPIO17}"), "board file f.yaml: button launch and led active both use GPIO17"},
		{"same offset", edit(t, "{offset: 13}", "{offset: 6}"), "board file f.yaml: led backup and led sync both use gpiochip0 offset 6"},
		{"same offset, chip given", edit(t, "{offset: 13}", "{chip: gpiochip0, offset: 6}"), "board file f.yaml: led backup and led sync both use gpiochip0 offset 6"},
		{"both line and offset", edit(t, "{line: GPIO5}", "{line: GPIO5, offset: 5}"), "board file f.yaml: led active: give line (a GPIO line name) or offset (on a chip), not both"},
		{"neither", edit(t, "{line: GPIO5}", "{active_low: true}"), "board file f.yaml: led active: needs line (a GPIO line name) or offset (on a chip)"},
		{"no value", edit(t, "{line: GPIO5}", ""), "board file f.yaml: led active: needs line"},
		{"offset without chip", edit(t, "chip: gpiochip0\n", ""), "board file f.yaml: led backup: offset 6 needs a chip"},
		{"negative offset", edit(t, "{offset: 13}", "{offset: -1}"), "board file f.yaml: led sync: offset -1 is negative"},
		{"bad debounce", edit(t, "debounce: 30ms", "debounce: soon"), `board file f.yaml: button logoff: bad debounce "soon" (want a duration like 20ms)`},
		{"negative debounce", edit(t, "debounce: 25ms", "debounce: -5ms"), `board file f.yaml: bad debounce "-5ms"`},
		{"zero debounce", edit(t, "debounce: 30ms", "debounce: 0s"), `board file f.yaml: button logoff: bad debounce "0s"`},
		{"huge debounce", edit(t, "debounce: 25ms", "debounce: 1h"), `board file f.yaml: bad debounce "1h" (want more than 0 and at most 1s)`},
		{"bad pull", edit(t, "pull: none", "pull: sideways"), `board file f.yaml: button logoff: bad pull "sideways" (want up, down or none)`},
		{"missing nic", edit(t, "nic: eth0\n", ""), "board file f.yaml: missing nic"},
		{"duplicate key", edit(t, "  sync:   {offset: 13}\n", "  sync:   {offset: 13}\n  sync:   {offset: 14}\n"), `board file f.yaml: line 12: mapping key "sync" already defined at line 11`},
		{"wrong type", edit(t, "{offset: 13}", "{offset: thirteen}"), "board file f.yaml: line 11: cannot unmarshal !!str `thirteen` into int"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error %q, want it to contain %q", msg, c.want)
			}
			if !strings.HasPrefix(msg, "board file f.yaml: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := ParseFile(path)
	if err == nil || err.Error() != "board file "+path+": no such file or directory" {
		t.Fatalf("error %v", err)
	}
}
