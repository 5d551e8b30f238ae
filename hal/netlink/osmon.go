package netlink

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netlinkMon is the Linux osMon: RTM_GETLINK for reads, an RTNLGRP_LINK
// subscription for hints.
type netlinkMon struct {
	ns  *netns.NsHandle
	h   *vnl.Handle
	log *slog.Logger
}

func newNetlinkMon(ns *netns.NsHandle, log *slog.Logger) (*netlinkMon, error) {
	if log == nil {
		log = slog.Default()
	}
	var (
		h   *vnl.Handle
		err error
	)
	if ns != nil {
		h, err = vnl.NewHandleAt(*ns)
	} else {
		h, err = vnl.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	// A read that hangs would stall the monitor; fail it and try again on
	// the next poll instead.
	if err := h.SetSocketTimeout(time.Second); err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink socket timeout: %w", err)
	}
	return &netlinkMon{ns: ns, h: h, log: log}, nil
}

func (n *netlinkMon) lookup(name string) (observation, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		var nf vnl.LinkNotFoundError
		if errors.As(err, &nf) {
			return observation{}, nil
		}
		return observation{}, err
	}
	a := l.Attrs()
	return observation{present: true, up: a.RawFlags&unix.IFF_LOWER_UP != 0, index: a.Index}, nil
}

func (n *netlinkMon) subscribe(done <-chan struct{}) (<-chan hint, error) {
	updates := make(chan vnl.LinkUpdate, 64)
	err := vnl.LinkSubscribeWithOptions(updates, done, vnl.LinkSubscribeOptions{
		Namespace:    n.ns,
		ListExisting: true,
		// A receive error also closes updates and the monitor resubscribes;
		// this only says why. Closing the subscription ends in one too.
		ErrorCallback: func(err error) { n.log.Debug("netlink: link subscription", "err", err) },
	})
	if err != nil {
		return nil, err
	}
	hints := make(chan hint)
	go func() {
		defer close(hints)
		// Read updates until the library closes it (after done, or on a
		// receive error), so its goroutine never blocks on a send.
		for u := range updates {
			select {
			case hints <- hint{name: u.Attrs().Name, index: int(u.Index)}:
			case <-done:
			}
		}
	}()
	return hints, nil
}

func (n *netlinkMon) close() error {
	n.h.Close()
	return nil
}
