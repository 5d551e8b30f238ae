package board

import (
	"errors"
	"fmt"
	"strings"

	"consoled/hal"
	"consoled/hal/mock"
	"consoled/hal/netlink"
)

// maxIfname is IFNAMSIZ less the terminating NUL.
const maxIfname = 15

func openMockNIC(spec string, opts Options) (hal.Board, error) {
	var nic string
	for _, kv := range strings.Split(strings.TrimPrefix(spec, "mock,"), ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k != "nic":
			return nil, fmt.Errorf("board: %q: unknown option %q (want nic=IFNAME)", spec, kv)
		case v == "" || len(v) > maxIfname || strings.ContainsAny(v, "/ "):
			return nil, fmt.Errorf("board: %q: bad interface name %q", spec, v)
		}
		nic = v
	}
	link, err := netlink.Open(nic, netlink.Options{Clock: opts.Clock, Logger: opts.Logger, PollInterval: opts.LinkPollInterval})
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", spec, err)
	}
	m := mock.New(mock.Options{Name: spec, Clock: opts.Clock})
	return &mockNIC{m: m, link: link}, nil
}

// mockNIC is mock buttons and LEDs with a real NIC, for benches of many
// consoles in network namespaces. Its buttons can be pressed from software
// (they are the mock's, hal.ButtonPressers); its link cannot (a netlink
// monitor is no hal.LinkSetter): cut the NIC with ip link instead.
type mockNIC struct {
	m    *mock.Board
	link *netlink.Monitor
}

var _ hal.Board = (*mockNIC)(nil)

func (b *mockNIC) Name() string                          { return b.m.Name() }
func (b *mockNIC) Button(name string) (hal.Button, bool) { return b.m.Button(name) }
func (b *mockNIC) LED(name string) (hal.LED, bool)       { return b.m.LED(name) }
func (b *mockNIC) Buttons() <-chan hal.ButtonEvent       { return b.m.Buttons() }
func (b *mockNIC) Link() hal.Link                        { return b.link }

func (b *mockNIC) Close() error {
	return errors.Join(b.m.Close(), b.link.Close())
}
