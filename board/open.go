package board

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/hal"
	halgpio "consoled/hal/gpio"
	"consoled/hal/mock"
	"consoled/hal/netlink"
)

// Options tune the boards Open makes. The zero value is usable.
type Options struct {
	Clock  clockwork.Clock // default: the real clock
	Logger *slog.Logger    // default: slog.Default()
	// LinkPollInterval is how often the NIC is read besides netlink's
	// events; default netlink.DefaultPollInterval (100 ms).
	LinkPollInterval time.Duration
}

// Open opens the board named by spec with default options.
func Open(spec string) (hal.Board, error) { return OpenWith(spec, Options{}) }

// OpenWith opens the board named by spec:
//
//	mock              the in-memory board (a *mock.Board)
//	mock,nic=IFNAME   mock buttons and LEDs, the real NIC IFNAME
//	rpi               the built-in Raspberry Pi wiring (see rpi.yaml)
//	PATH              a board file
//
// A spec that is none of the built-in names is taken as a path if it has a
// slash or a .yaml/.yml suffix, or names an existing file.
func OpenWith(spec string, opts Options) (hal.Board, error) {
	switch {
	case spec == "mock":
		return mock.New(mock.Options{Clock: opts.Clock}), nil
	case strings.HasPrefix(spec, "mock,"):
		return openMockNIC(spec, opts)
	}
	if data, ok := builtin[spec]; ok {
		def, err := Parse(spec, data)
		if err != nil {
			return nil, err
		}
		return OpenDef(def, opts)
	}
	if isPath(spec) {
		def, err := ParseFile(spec)
		if err != nil {
			return nil, err
		}
		return OpenDef(def, opts)
	}
	return nil, fmt.Errorf("board: unknown board %q (want %s, or a board file path)", spec, strings.Join(Names(), ", "))
}

func isPath(spec string) bool {
	if strings.Contains(spec, "/") || strings.HasSuffix(spec, ".yaml") || strings.HasSuffix(spec, ".yml") {
		return true
	}
	_, err := os.Stat(spec)
	return err == nil
}

// OpenDef opens a validated definition: its lines through hal/gpio and its
// NIC through hal/netlink.
func OpenDef(def *Def, opts Options) (hal.Board, error) {
	panel, err := halgpio.Open(def.Name, def.Buttons, def.LEDs, halgpio.Options{Clock: opts.Clock, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	link, err := netlink.Open(def.NIC, netlink.Options{Clock: opts.Clock, Logger: opts.Logger, PollInterval: opts.LinkPollInterval})
	if err != nil {
		_ = panel.Close()
		return nil, fmt.Errorf("board %s: %w", def.Name, err)
	}
	return &gpioBoard{Panel: panel, name: def.Name, link: link}, nil
}

// gpioBoard is a panel on GPIO lines and a NIC watched through netlink.
type gpioBoard struct {
	*halgpio.Panel
	name string
	link *netlink.Monitor
}

func (b *gpioBoard) Name() string   { return b.name }
func (b *gpioBoard) Link() hal.Link { return b.link }

// Close turns the LEDs off and releases the lines and the NIC monitor.
func (b *gpioBoard) Close() error {
	return errors.Join(b.Panel.Close(), b.link.Close())
}
