package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"consoled/client"
	"consoled/hal"
	"consoled/hal/netlink"
)

// The NIC section runs consoled with --board mock,nic=show0 in a network
// namespace, show0 being one end of a veth pair whose far end (far0) sits
// in a second namespace. Both ends have the same ifindex in their fresh
// namespaces, so the kernel treats show0 as a real NIC (iflink == ifindex)
// and batches its carrier events through link-watch, as it does for eth0.
// Setting far0 down takes show0's carrier away, as pulling the cable would.
const (
	benchNicNear  = "show0"
	benchNicFar   = "far0"
	benchNicIndex = "10"

	nicTrials    = 20
	nicTarget    = 150 * time.Millisecond // carrier loss → LINK LED off, p99
	nicStatusGap = time.Millisecond       // between status reads while waiting
	nicWaitMin   = 50 * time.Millisecond  // random pause before each change ...
	nicWaitMax   = 250 * time.Millisecond // ... so trials don't lock to the 100 ms poll
	nicTimeout   = 5 * time.Second        // a change not seen by then is a failure
)

const nicHeading = "## NIC link on a real veth (issue: real front panel and NIC)"

// benchNIC measures carrier loss on a NIC-like veth to LINK LED off (and
// carrier return to LINK LED on) in a consoled process, against the bare
// netlink monitor watching the same NIC in the same trials.
func benchNIC(tmp string) {
	if why := nicUnavailable(); why != "" {
		fmt.Println(nicHeading)
		fmt.Printf("skipped: %s\n\n", why)
		return
	}
	// Ctrl-C or SIGTERM ends the trials and still removes the namespaces.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runNIC(ctx, tmp); err != nil {
		log.Fatalf("nic: %v", err)
	}
}

// nicUnavailable says why the section cannot run here, or "".
func nicUnavailable() string {
	if os.Geteuid() != 0 {
		return "needs root to create network namespaces and a veth pair"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs iproute2's ip to create network namespaces"
	}
	probe := fmt.Sprintf("consoled-bench%d-probe", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return fmt.Sprintf("ip netns add is not usable here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("ip", "netns", "del", probe).CombinedOutput(); err != nil {
		return fmt.Sprintf("ip netns del is not usable here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return ""
}

// stamped is a link change and when the bench received it.
type stamped struct {
	s  hal.LinkState
	at time.Time
}

func runNIC(ctx context.Context, tmp string) (err error) {
	id := fmt.Sprintf("consoled-bench%d", os.Getpid())
	nsA, nsB := id+"a", id+"b"
	for _, ns := range []string{nsA, nsB} {
		if err := nicIP("netns", "add", ns); err != nil {
			return err
		}
		defer func() {
			// Deleting a namespace destroys the veth end inside it.
			if derr := nicIP("netns", "del", ns); derr != nil {
				err = errors.Join(err, derr)
			}
		}()
	}
	for _, args := range [][]string{
		{"-n", nsA, "link", "set", "lo", "up"}, // for --listen 127.0.0.1:0
		{"-n", nsA, "link", "add", benchNicNear, "index", benchNicIndex, "type", "veth",
			"peer", "name", benchNicFar, "netns", nsB, "index", benchNicIndex},
		{"-n", nsA, "link", "set", benchNicNear, "up"},
		{"-n", nsB, "link", "set", benchNicFar, "up"},
	} {
		if err := nicIP(args...); err != nil {
			return err
		}
	}

	hA, err := netns.GetFromName(nsA)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", nsA, err)
	}
	defer hA.Close()
	hB, err := netns.GetFromName(nsB)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", nsB, err)
	}
	defer hB.Close()
	nlA, err := vnl.NewHandleAt(hA)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsA, err)
	}
	defer nlA.Close()
	nlB, err := vnl.NewHandleAt(hB)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsB, err)
	}
	defer nlB.Close()
	near, err := nlA.LinkByName(benchNicNear)
	if err != nil {
		return err
	}
	far, err := nlB.LinkByName(benchNicFar)
	if err != nil {
		return err
	}
	if near.Attrs().Index != far.Attrs().Index {
		return fmt.Errorf("veth ends have ifindex %d and %d; the bench needs them equal (NIC-like)", near.Attrs().Index, far.Attrs().Index)
	}

	setFar := func(up bool) error {
		if up {
			return nlB.LinkSetUp(far)
		}
		return nlB.LinkSetDown(far)
	}

	// consoled first, alone on the NIC. (Not beside the bare monitor: any
	// RTM_GETLINK of the NIC, a poll included, makes the kernel send the
	// link-watch event it holds back, so two watchers polling out of phase
	// see carrier loss sooner than either would alone.)
	c, err := startNICConsole(ctx, tmp, nsA)
	if err != nil {
		return err
	}
	defer c.stop()
	ledReady := func() error {
		_, err := c.waitLED(ctx, "on", time.Now())
		return err
	}
	ledDown, ledUp, err := nicTrialsRun(ctx, setFar, ledReady, func(up bool, since time.Time) (time.Time, error) {
		return c.waitLED(ctx, map[bool]string{true: "on", false: "off"}[up], since)
	})
	if err != nil {
		return fmt.Errorf("consoled: %w", err)
	}
	c.stop()

	// The baseline: the bare monitor, as consoled's board opens it, on the
	// same veth once consoled is gone.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mon, err := netlink.Open(benchNicNear, netlink.Options{Namespace: &hA, Logger: quiet})
	if err != nil {
		return err
	}
	defer mon.Close()
	changes := make(chan stamped, 64)
	go func() {
		defer close(changes)
		for s := range mon.Changes() {
			changes <- stamped{s, time.Now()}
		}
	}()
	bareReady := func() error {
		if s := mon.State(); s.Present && s.Up {
			return nil
		}
		_, err := awaitChange(ctx, changes, true, time.Time{})
		return err
	}
	bareDown, bareUp, err := nicTrialsRun(ctx, setFar, bareReady, func(up bool, since time.Time) (time.Time, error) {
		return awaitChange(ctx, changes, up, since)
	})
	if err != nil {
		return fmt.Errorf("bare monitor: %w", err)
	}
	printNIC(ledDown, ledUp, bareDown, bareUp)
	return nil
}

// nicTrialsRun makes nicTrials carrier losses and returns, each after a
// random pause, and returns how long each took to be seen by wait.
// ready returns once the watcher sees the link up, before the first trial.
func nicTrialsRun(ctx context.Context, setFar func(up bool) error, ready func() error, wait func(up bool, since time.Time) (time.Time, error)) (down, up []time.Duration, err error) {
	if err := ready(); err != nil {
		return nil, nil, fmt.Errorf("at start: %w", err)
	}
	change := func(to bool) (time.Duration, error) {
		select {
		case <-time.After(nicWaitMin + rand.N(nicWaitMax-nicWaitMin)):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		t0 := time.Now()
		if err := setFar(to); err != nil {
			return 0, fmt.Errorf("setting %s up=%t: %w", benchNicFar, to, err)
		}
		at, err := wait(to, t0)
		return at.Sub(t0), err
	}
	for i := 1; i <= nicTrials; i++ {
		d, err := change(false)
		if err != nil {
			return nil, nil, fmt.Errorf("trial %d, carrier loss: %w", i, err)
		}
		down = append(down, d)
		if d, err = change(true); err != nil {
			return nil, nil, fmt.Errorf("trial %d, carrier return: %w", i, err)
		}
		up = append(up, d)
	}
	return down, up, nil
}

func nicIP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nicConsole is consoled running in the bench's first namespace.
type nicConsole struct {
	cmd    *exec.Cmd
	client *client.Client
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
}

// startNICConsole runs consoled in namespace ns and waits until it answers.
// ip netns exec execs consoled in the process it started, so that process
// is consoled.
func startNICConsole(ctx context.Context, tmp, ns string) (*nicConsole, error) {
	exe, err := filepath.Abs(filepath.Join(*bin, "consoled"))
	if err != nil {
		return nil, err
	}
	data := filepath.Join(tmp, "nic-1")
	cmd := exec.Command("ip", "netns", "exec", ns, exe,
		"--id", "bench-nic", "--data", data, "--board", "mock,nic="+benchNicNear,
		"--http", "off", "--listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	// Its own process group, so Ctrl-C reaches the bench, which stops it;
	// and killed with the bench if the bench dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting consoled in %s: %w", ns, err)
	}
	c := &nicConsole{cmd: cmd, client: client.Unix(filepath.Join(data, "consoled.sock")), exited: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.client.Status(rctx)
		cancel()
		if err == nil {
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("consoled exited at start: %v", c.err)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("consoled did not answer within 20s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop logs consoled off (SIGINT) and, should it hang, kills it.
func (c *nicConsole) stop() {
	c.client.Close()
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		log.Printf("nic: consoled ignored SIGINT for 10s; killing it")
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// waitLED reads the status every nicStatusGap until the LINK LED is want,
// and returns when the answer saying so arrived.
func (c *nicConsole) waitLED(ctx context.Context, want string, since time.Time) (time.Time, error) {
	deadline := since.Add(nicTimeout)
	last := "no answer"
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.client.Status(rctx)
		cancel()
		now := time.Now()
		if err == nil && st.LEDs["link"] == want {
			return now, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("link %s, LINK LED %s", st.Link, st.LEDs["link"])
		}
		select {
		case <-c.exited:
			return time.Time{}, fmt.Errorf("consoled exited (%v) while waiting for LINK LED %s", c.err, want)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		default:
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("LINK LED not %s within %s (last status: %s)", want, nicTimeout, last)
		}
		time.Sleep(nicStatusGap)
	}
}

// awaitChange waits for the bare monitor to report the carrier up or down
// (a report received before since is stale).
func awaitChange(ctx context.Context, changes <-chan stamped, up bool, since time.Time) (time.Time, error) {
	timeout := time.NewTimer(nicTimeout)
	defer timeout.Stop()
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				return time.Time{}, errors.New("the bare monitor's Changes closed")
			}
			if c.s.Present && c.s.Up == up && !c.at.Before(since) {
				return c.at, nil
			}
		case <-timeout.C:
			return time.Time{}, fmt.Errorf("the bare monitor did not report carrier up=%t within %s", up, nicTimeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func printNIC(ledDown, ledUp, bareDown, bareUp []time.Duration) {
	stats := func(ds []time.Duration) (p50, p99, maxd time.Duration) {
		p50, p99 = percentiles(ds) // sorts ds
		return p50, p99, ds[len(ds)-1]
	}
	offP50, offP99, offMax := stats(ledDown)
	onP50, onP99, onMax := stats(ledUp)
	bOffP50, bOffP99, bOffMax := stats(bareDown)
	bOnP50, bOnP99, _ := stats(bareUp)
	verdict := "met"
	if offP99 > nicTarget {
		verdict = "NOT MET"
	}

	row := func(name, value string) { fmt.Printf("%-58s %14s\n", name, value) }
	fmt.Println(nicHeading)
	row("measure", "value")
	row(fmt.Sprintf("carrier loss → LINK LED off, p50 (%d trials)", len(ledDown)), ms(offP50))
	row("carrier loss → LINK LED off, p99", ms(offP99))
	row("carrier loss → LINK LED off, max", ms(offMax))
	row(fmt.Sprintf("carrier return → LINK LED on, p50 (%d trials)", len(ledUp)), ms(onP50))
	row("carrier return → LINK LED on, p99", ms(onP99))
	row("carrier return → LINK LED on, max", ms(onMax))
	row(fmt.Sprintf("target: carrier loss → LINK LED off, p99 ≤ %d ms", nicTarget.Milliseconds()), verdict)
	row(fmt.Sprintf("baseline: bare netlink monitor, loss seen, p50 (%d trials)", len(bareDown)), ms(bOffP50))
	row("baseline: bare netlink monitor, carrier loss seen, p99", ms(bOffP99))
	row("baseline: bare netlink monitor, carrier loss seen, max", ms(bOffMax))
	row("baseline: bare netlink monitor, carrier return seen, p50", ms(bOnP50))
	row("baseline: bare netlink monitor, carrier return seen, p99", ms(bOnP99))
	row("ratio: LED off / bare monitor, p50", fmt.Sprintf("%.2f", float64(offP50)/float64(bOffP50)))
	row("ratio: LED off / bare monitor, p99", fmt.Sprintf("%.2f", float64(offP99)/float64(bOffP99)))
	fmt.Printf("(same veth, consoled then the bare monitor alone; %s–%s random pause before each change; LED read by status every %s)\n\n",
		nicWaitMin, nicWaitMax, nicStatusGap)
}
