package netlink

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/vishvananda/netns"

	"consoled/hal"
)

// DefaultPollInterval is how often the link is read besides the events.
const DefaultPollInterval = 100 * time.Millisecond

// Options tune a Monitor. The zero value is usable.
type Options struct {
	Clock        clockwork.Clock // polling and state times; default real
	Logger       *slog.Logger    // default slog.Default()
	PollInterval time.Duration   // default DefaultPollInterval
	// Namespace is the network namespace the NIC lives in; nil means the
	// process's own. Benches and tests use it to watch a veth end.
	Namespace *netns.NsHandle
	// Queue is the capacity of Changes; default 16. When the reader falls
	// that far behind the oldest change is dropped, never the newest, so
	// the last state delivered is always the current one.
	Queue int
}

// osMon is what a Monitor needs from the operating system.
type osMon interface {
	// lookup reads the link's current state; a missing link is not an error.
	lookup(name string) (observation, error)
	// subscribe starts a stream of hints that some link changed. The channel
	// closes after done is closed, or earlier on a receive error.
	subscribe(done <-chan struct{}) (<-chan hint, error)
	close() error
}

// observation is one read of the link.
type observation struct {
	present bool
	up      bool
	index   int
}

// hint says that the link with this name or index changed somehow.
type hint struct {
	name  string
	index int
}

// Monitor watches one NIC. It implements hal.Link.
type Monitor struct {
	name  string
	sys   osMon
	clock clockwork.Clock
	log   *slog.Logger

	mu    sync.Mutex
	state hal.LinkState

	// Owned by the run goroutine.
	index         int // the link's ifindex when last seen; 0 when absent
	lookupFailing bool
	subFailing    bool

	changes   chan hal.LinkState
	inject    chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ hal.Link = (*Monitor)(nil)

// Open starts watching the interface ifname. A missing interface is not an
// error: it is reported absent until it appears.
func Open(ifname string, opts Options) (*Monitor, error) {
	if ifname == "" {
		return nil, fmt.Errorf("netlink: no interface name")
	}
	sys, err := newNetlinkMon(opts.Namespace, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("netlink: %s: %w", ifname, err)
	}
	m, err := newMonitor(ifname, sys, opts)
	if err != nil {
		_ = sys.close()
		return nil, err
	}
	return m, nil
}

func newMonitor(ifname string, sys osMon, opts Options) (*Monitor, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Queue <= 0 {
		opts.Queue = 16
	}
	m := &Monitor{
		name:    ifname,
		sys:     sys,
		clock:   opts.Clock,
		log:     opts.Logger.With("nic", ifname),
		changes: make(chan hal.LinkState, opts.Queue),
		inject:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	obs, err := sys.lookup(ifname)
	if err != nil {
		return nil, fmt.Errorf("netlink: %s: read link: %w", ifname, err)
	}
	m.index = obs.index
	m.state = hal.LinkState{Name: ifname, Present: obs.present, Up: obs.up, At: m.clock.Now()}
	// Made before the goroutine starts, so a fake clock counts the ticker
	// as soon as Open returns.
	ticker := m.clock.NewTicker(opts.PollInterval)
	m.wg.Add(1)
	go m.run(ticker)
	return m, nil
}

func (m *Monitor) Name() string { return m.name }

// State is the link's state when last read.
func (m *Monitor) State() hal.LinkState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Changes delivers each change of State (presence or carrier). Close closes it.
func (m *Monitor) Changes() <-chan hal.LinkState { return m.changes }

// InjectEvent makes the monitor re-read the link now, as if the OS had
// reported a change. It never blocks.
func (m *Monitor) InjectEvent() {
	select {
	case m.inject <- struct{}{}:
	default:
	}
}

// Close stops the monitor, releases its netlink sockets and closes Changes.
// It is idempotent.
func (m *Monitor) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		m.wg.Wait()
		err = m.sys.close()
		close(m.changes)
	})
	return err
}

func (m *Monitor) run(ticker clockwork.Ticker) {
	defer m.wg.Done()
	defer ticker.Stop()
	var (
		hints   <-chan hint
		subDone chan struct{}
	)
	subscribe := func() {
		done := make(chan struct{})
		h, err := m.sys.subscribe(done)
		if err != nil {
			close(done) // a half-made subscription may have started goroutines
			if !m.subFailing {
				m.log.Warn("netlink: link subscription failed; polling only until it works", "err", err)
			}
			m.subFailing = true
			return
		}
		if m.subFailing {
			m.log.Info("netlink: link subscription working again")
		}
		m.subFailing = false
		hints, subDone = h, done
	}
	unsubscribe := func() {
		if subDone == nil {
			return
		}
		close(subDone)
		// Drain, so the subscription's goroutines are never stuck sending.
		for range hints {
		}
		hints, subDone = nil, nil
	}
	defer unsubscribe()

	subscribe()
	for {
		select {
		case <-m.done:
			return
		case h, ok := <-hints:
			if !ok {
				// A receive error (ENOBUFS when the kernel outran us, for
				// one) ends a subscription. The next tick makes a new one;
				// the poll covers the gap.
				m.log.Warn("netlink: link subscription ended; resubscribing")
				unsubscribe()
				m.refresh()
				continue
			}
			if h.name == m.name || (h.index != 0 && h.index == m.index) {
				m.refresh()
			}
		case <-ticker.Chan():
			if hints == nil {
				subscribe()
			}
			m.refresh()
		case <-m.inject:
			m.refresh()
		}
	}
}

// refresh reads the link and publishes the state if it changed.
func (m *Monitor) refresh() {
	obs, err := m.sys.lookup(m.name)
	if err != nil {
		// Keep the last state: an unreadable link is not a lost link.
		if !m.lookupFailing {
			m.log.Warn("netlink: reading the link failed", "err", err)
		}
		m.lookupFailing = true
		return
	}
	if m.lookupFailing {
		m.log.Info("netlink: reading the link works again")
	}
	m.lookupFailing = false
	m.index = obs.index

	m.mu.Lock()
	if m.state.Present == obs.present && m.state.Up == obs.up {
		m.mu.Unlock()
		return
	}
	m.state = hal.LinkState{Name: m.name, Present: obs.present, Up: obs.up, At: m.clock.Now()}
	s := m.state
	m.mu.Unlock()

	m.log.Info("netlink: link changed", "state", s.String())
	m.publish(s)
}

// publish queues s, dropping the oldest queued change if the reader is
// behind. Only run sends, so after one receive there is room.
func (m *Monitor) publish(s hal.LinkState) {
	for {
		select {
		case m.changes <- s:
			return
		default:
		}
		select {
		case old := <-m.changes:
			m.log.Warn("netlink: Changes reader is behind; dropped a change", "dropped", old.String())
		default:
		}
	}
}
