package board

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"periph.io/x/conn/v3/gpio"

	"consoled/hal"
	halgpio "consoled/hal/gpio"
)

// File is a board file as written: YAML, strictly decoded (an unknown key
// is an error, not a silently ignored typo). Validate turns it into a Def.
type File struct {
	Chip     string                `yaml:"chip"`     // default chip for lines given by offset
	Debounce string                `yaml:"debounce"` // default button debounce, e.g. "20ms"
	NIC      string                `yaml:"nic"`      // the show-network interface
	Buttons  map[string]ButtonSpec `yaml:"buttons"`  // function name → wiring
	LEDs     map[string]LEDSpec    `yaml:"leds"`     // function name → wiring
}

// LineSpec says where one function is wired: a GPIO line name (line), or a
// chip and offset (offset, with chip here or at the top of the file).
type LineSpec struct {
	Line      string `yaml:"line"`
	Chip      string `yaml:"chip"`
	Offset    *int   `yaml:"offset"`
	ActiveLow bool   `yaml:"active_low"`
}

// ButtonSpec wires a button.
type ButtonSpec struct {
	LineSpec `yaml:",inline"`
	Pull     string `yaml:"pull"`     // up, down or none; default up when active_low, else down
	Debounce string `yaml:"debounce"` // overrides the file's debounce
}

// LEDSpec wires an LED.
type LEDSpec struct {
	LineSpec `yaml:",inline"`
}

// Def is a validated board definition: what is wired where. Its configs
// are in panel order (hal.ButtonNames, hal.LEDNames) and carry no pins yet.
type Def struct {
	Name    string // the board's name: a built-in name or the file's path
	NIC     string
	Buttons []halgpio.ButtonConfig
	LEDs    []halgpio.LEDConfig
}

// Longest debounce accepted: past this a press would feel lost.
const maxDebounce = time.Second

// ParseFile reads, decodes and validates a board file.
func ParseFile(path string) (*Def, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("board file %s: %w", path, unwrapPathError(err))
	}
	return Parse(path, data)
}

// Parse decodes and validates a board file's contents; name is used in
// errors and becomes the board's name.
func Parse(name string, data []byte) (*Def, error) {
	f, err := Decode(name, data)
	if err != nil {
		return nil, err
	}
	return f.Validate(name)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Decode parses a board file's YAML, refusing unknown keys.
func Decode(name string, data []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("board file %s: empty", name)
		}
		return nil, fmt.Errorf("board file %s: %s", name, yamlMessage(err))
	}
	return &f, nil
}

var notFoundRE = regexp.MustCompile(`field (\S+) not found in type \S+`)

// yamlMessage makes yaml.v3's errors one line and speaks of keys, not Go
// struct fields.
func yamlMessage(err error) string {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for i, m := range msgs {
		m = notFoundRE.ReplaceAllString(m, `unknown key "$1"`)
		msgs[i] = strings.Join(strings.Fields(m), " ")
	}
	return strings.Join(msgs, "; ")
}

// Validate checks the file and resolves its defaults. Every error is one
// line naming the file and what is wrong.
func (f *File) Validate(name string) (*Def, error) {
	fail := func(format string, args ...any) (*Def, error) {
		return nil, fmt.Errorf("board file %s: "+format, append([]any{name}, args...)...)
	}
	if f.NIC == "" {
		return fail("missing nic (the show-network interface, e.g. nic: eth0)")
	}
	debounce := halgpio.DefaultDebounce
	if f.Debounce != "" {
		d, err := parseDebounce(f.Debounce)
		if err != nil {
			return fail("%v", err)
		}
		debounce = d
	}
	if n := unknown(f.Buttons, hal.ButtonNames); n != "" {
		return fail("unknown button %q (want %s)", n, strings.Join(hal.ButtonNames, ", "))
	}
	if n := unknown(f.LEDs, hal.LEDNames); n != "" {
		return fail("unknown led %q (want %s)", n, strings.Join(hal.LEDNames, ", "))
	}

	def := &Def{Name: name, NIC: f.NIC}
	lines := map[string]string{} // line key → user, to find a line used twice
	use := func(what string, s LineSpec) (halgpio.LineRef, error) {
		ref, err := f.lineRef(s)
		if err != nil {
			return ref, fmt.Errorf("%s: %w", what, err)
		}
		key := lineKey(ref)
		if other, ok := lines[key]; ok {
			return ref, fmt.Errorf("%s and %s both use %s", other, what, ref)
		}
		lines[key] = what
		return ref, nil
	}
	for _, n := range hal.ButtonNames {
		s, ok := f.Buttons[n]
		if !ok {
			return fail("missing button %s", n)
		}
		ref, err := use("button "+n, s.LineSpec)
		if err != nil {
			return fail("%v", err)
		}
		pull, err := parsePull(s.Pull)
		if err != nil {
			return fail("button %s: %v", n, err)
		}
		d := debounce
		if s.Debounce != "" {
			if d, err = parseDebounce(s.Debounce); err != nil {
				return fail("button %s: %v", n, err)
			}
		}
		def.Buttons = append(def.Buttons, halgpio.ButtonConfig{Name: n, Line: ref, ActiveLow: s.ActiveLow, Pull: pull, Debounce: d})
	}
	for _, n := range hal.LEDNames {
		s, ok := f.LEDs[n]
		if !ok {
			return fail("missing led %s", n)
		}
		ref, err := use("led "+n, s.LineSpec)
		if err != nil {
			return fail("%v", err)
		}
		def.LEDs = append(def.LEDs, halgpio.LEDConfig{Name: n, Line: ref, ActiveLow: s.ActiveLow})
	}
	return def, nil
}

// unknown returns the first (sorted) key of m that is not in names.
func unknown[V any](m map[string]V, names []string) string {
	var bad []string
	for k := range m {
		if !slices.Contains(names, k) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	if len(bad) == 0 {
		return ""
	}
	return bad[0]
}

func (f *File) lineRef(s LineSpec) (halgpio.LineRef, error) {
	switch {
	case s.Line != "" && s.Offset != nil:
		return halgpio.LineRef{}, errors.New("give line (a GPIO line name) or offset (on a chip), not both")
	case s.Line != "":
		// A chip here narrows the name's search to it; the file's default
		// chip does not, since names are usually unique across chips.
		return halgpio.LineRef{Name: s.Line, Chip: s.Chip}, nil
	case s.Offset != nil:
		chip := s.Chip
		if chip == "" {
			chip = f.Chip
		}
		if chip == "" {
			return halgpio.LineRef{}, fmt.Errorf("offset %d needs a chip (chip: here or at the top of the file)", *s.Offset)
		}
		if *s.Offset < 0 {
			return halgpio.LineRef{}, fmt.Errorf("offset %d is negative", *s.Offset)
		}
		return halgpio.LineRef{Chip: chip, Offset: *s.Offset}, nil
	default:
		return halgpio.LineRef{}, errors.New("needs line (a GPIO line name) or offset (on a chip)")
	}
}

// lineKey identifies a line for the duplicate check. Names are compared
// alone: the same name on two chips is rare, and a mistake more often.
func lineKey(r halgpio.LineRef) string {
	if r.Name != "" {
		return "name " + r.Name
	}
	return fmt.Sprintf("%s offset %d", r.Chip, r.Offset)
}

func parseDebounce(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad debounce %q (want a duration like 20ms)", s)
	}
	if d <= 0 || d > maxDebounce {
		return 0, fmt.Errorf("bad debounce %q (want more than 0 and at most %s)", s, maxDebounce)
	}
	return d, nil
}

func parsePull(s string) (gpio.Pull, error) {
	switch s {
	case "":
		return gpio.PullNoChange, nil
	case "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "none":
		return gpio.Float, nil
	}
	return gpio.PullNoChange, fmt.Errorf("bad pull %q (want up, down or none)", s)
}
