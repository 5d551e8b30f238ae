package firmware

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// systemd's service notifications (sd_notify), for the unit in dist/ with
// Type=notify. Without NOTIFY_SOCKET (not started by systemd) each is a
// no-op.
//
//   - READY=1 once the control socket, the peer listener and the status
//     page are listening (Run, after New opened them).
//   - WATCHDOG=1 while the service works: the panel loop takes a probe and,
//     in it, makes a call into the engine (engineCheck: Status, which takes
//     the engine's lock), and both come back within a bound. A hung engine
//     or a stuck panel loop stops the pings, and systemd restarts the
//     service after WatchdogSec. The engine's own loop is not reached from
//     here; its lock is what every one of its loops and calls shares.
//   - STATUS= the situation in words, as the web panel's headline says it.
//   - STOPPING=1 when it stops, with a STATUS line while the hand-over to
//     a backup waits, and EXTEND_TIMEOUT_USEC so that a hand-over that
//     takes its time is not killed half way.
type notifier struct {
	s      *Service
	mu     sync.Mutex
	status string // the last STATUS sent
	failed bool   // the last probe failed (log the change only)
}

func (n *notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.s.log.Debug("sd_notify", "state", state, "err", err)
	}
}

// ready tells systemd start-up is done.
func (n *notifier) ready() {
	n.send("READY=1\nSTATUS=" + n.s.cfg.ID + " started")
}

// setStatus sends STATUS= when it changed.
func (n *notifier) setStatus(line string) {
	line = strings.ReplaceAll(line, "\n", " ")
	n.mu.Lock()
	same := line == n.status
	n.status = line
	n.mu.Unlock()
	if !same {
		n.send("STATUS=" + line)
	}
}

// stopping tells systemd the service is stopping, and while the log-off
// runs (done not yet closed) says what it waits for.
func (n *notifier) stopping(done <-chan struct{}) {
	n.send("STOPPING=1\nSTATUS=logging off")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		st := n.s.engine.Status()
		if h := st.HandOver; h != nil {
			// A hand-over may take up to its limit (30 s): keep systemd's
			// stop timeout ahead of it.
			n.send(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d\nSTATUS=handing show %s over: waiting until %s hold seq %d",
				(5 * time.Second).Microseconds(), st.Show, strings.Join(h.Waiting, ", "), h.Seq))
		}
	}
}

// watchdog pings systemd's watchdog while the service is healthy, three
// times per WatchdogSec, until ctx is done.
func (n *notifier) watchdog(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	every := interval / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok := n.s.healthy(ctx, every)
		if ok {
			n.send("WATCHDOG=1")
		}
		n.mu.Lock()
		changed := n.failed == ok
		n.failed = !ok
		n.mu.Unlock()
		switch {
		case changed && !ok && ctx.Err() == nil:
			n.s.log.Error("the panel loop or the engine did not answer within the watchdog's bound; systemd's watchdog will restart the service unless it recovers",
				"bound", every)
		case changed && ok:
			n.s.log.Info("the panel loop and the engine answer again")
		}
	}
}

// healthy asks the panel loop to call into the engine, and says whether
// both came back within bound.
func (s *Service) healthy(ctx context.Context, bound time.Duration) bool {
	reply := make(chan struct{})
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case s.probe <- reply:
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
	select {
	case <-reply:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
