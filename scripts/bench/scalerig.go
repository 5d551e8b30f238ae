package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"consoled/api"
	"consoled/client"
	"consoled/replication/wire"
)

// The scale rig: one network namespace per console, each with a veth into
// one Linux bridge that sits in a namespace of its own, so the consoles'
// discovery beacons (multicast) and TLS connections never touch the host's
// real NICs. Each console is a real consoled process run with `ip netns
// exec`, its board's NIC the veth (--board mock,nic=nic0), discovery only:
// no --peers. The bench talks to each console through its control socket,
// which the namespaces share with the host's file system.
//
// A loopback rig (all consoles on 127.0.0.1 with --peers, no discovery) is
// the same type with netns off, for the rows compared with the earlier
// three-console figures.

const (
	scaleNIC    = "nic0"
	scaleSubnet = "10.78.0." // console i listens on 10.78.0.(i+1):7400
	scalePort   = 7400
	// scaleWebPort is the status page's port on each console's loopback.
	scaleWebPort = 7480
)

// rigs are every rig the bench made, removed on exit, failure or Ctrl-C.
var (
	rigsMu   sync.Mutex
	rigs     []*scaleRig
	rigsOnce sync.Once
	// cleanMu is held for a whole cleanup: a second failing goroutine
	// waits for the first one's cleanup instead of removing the data of
	// consoles that still run.
	cleanMu sync.Mutex
)

// cleanupRigs kills every console of every rig and removes the namespaces,
// veths (with their namespaces), bridge and data. Safe to call twice.
func cleanupRigs() {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	rigsMu.Lock()
	rs := rigs
	rigs = nil
	rigsMu.Unlock()
	for _, r := range rs {
		r.close()
	}
}

// scaleFatal cleans up the rigs, then fails the bench as fatal does.
func scaleFatal(v ...any) {
	cleanupRigs()
	fatal(v...)
}

func scaleFatalf(format string, v ...any) { scaleFatal(fmt.Sprintf(format, v...)) }

// watchSignals makes Ctrl-C and SIGTERM clean up the rigs before exiting:
// the consoles run in process groups of their own, so the signal reaches
// only the bench.
func watchSignals() {
	rigsOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			s := <-ch
			slog.Warn("bench: stopping: removing the consoles and namespaces", "signal", s)
			cleanupRigs()
			if benchTmp != "" && !*keepData {
				os.RemoveAll(benchTmp)
			}
			os.Exit(130)
		}()
	})
}

// scaleRig is n consoles on a bridge (netns) or on loopback.
type scaleRig struct {
	name   string // also the prefix of its namespaces
	dir    string // data folders, one per console, and the network key
	key    string
	netns  bool
	n      int
	extra  []string // more consoled flags for every console
	bridge string   // the bridge's namespace
	made   []string // namespaces to delete
	addrs  []string // each console's peer address
	cs     []*scaleConsole
	web    bool // netns only: each console serves its status page in its namespace
	closed bool
	mu     sync.Mutex
}

// scaleConsole is one consoled process of a rig.
type scaleConsole struct {
	*console
	id     string
	ns     string // "" on loopback
	data   string
	exited chan struct{}
}

// rigUnavailable says why a netns rig cannot run here, or "".
func rigUnavailable() string {
	return nicUnavailable()
}

// newRig makes the rig's namespaces and bridge (when netns) and its key;
// start runs its consoles.
func newRig(tmp, name string, n int, netns bool, extra ...string) *scaleRig {
	watchSignals()
	r := &scaleRig{name: fmt.Sprintf("cdscale%d-%s", os.Getpid(), name), dir: filepath.Join(tmp, name), netns: netns, n: n, extra: extra}
	r.key = filepath.Join(r.dir, "network.key")
	r.cs = make([]*scaleConsole, n)
	rigsMu.Lock()
	rigs = append(rigs, r)
	rigsMu.Unlock()
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		scaleFatal(err)
	}
	if _, _, err := wire.LoadOrCreateKey(r.key); err != nil {
		scaleFatal(err)
	}
	if !netns {
		for i := 0; i < n; i++ {
			r.addrs = append(r.addrs, freeLoopback())
		}
		return r
	}
	r.bridge = r.name + "-br"
	r.addNS(r.bridge)
	r.ip("-n", r.bridge, "link", "add", "br0", "type", "bridge")
	// Without an IGMP querier a snooping bridge may stop forwarding the
	// beacons' group after a while; a show network's switch floods it.
	r.ip("-n", r.bridge, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	r.ip("-n", r.bridge, "link", "set", "br0", "up")
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("%s-%d", r.name, i+1)
		r.addNS(ns)
		port := fmt.Sprintf("p%d", i+1)
		// Both ends get the same ifindex in their namespaces, so the kernel
		// treats nic0 as a real NIC (iflink == ifindex), as the NIC bench does.
		idx := strconv.Itoa(10 + i)
		r.ip("-n", r.bridge, "link", "add", port, "index", idx, "type", "veth", "peer", "name", scaleNIC, "netns", ns, "index", idx)
		r.ip("-n", r.bridge, "link", "set", port, "master", "br0", "up")
		addr := fmt.Sprintf("%s%d", scaleSubnet, i+1)
		r.ip("-n", ns, "addr", "add", addr+"/24", "dev", scaleNIC)
		r.ip("-n", ns, "link", "set", scaleNIC, "up")
		r.ip("-n", ns, "link", "set", "lo", "up")
		r.addrs = append(r.addrs, fmt.Sprintf("%s:%d", addr, scalePort))
	}
	return r
}

func (r *scaleRig) addNS(ns string) {
	r.ip("netns", "add", ns)
	r.mu.Lock()
	r.made = append(r.made, ns)
	r.mu.Unlock()
}

func (r *scaleRig) ip(args ...string) {
	if err := nicIP(args...); err != nil {
		scaleFatal(err)
	}
}

// freeLoopback picks a free port on 127.0.0.1, so a loopback console can be
// restarted at the address its peers know.
func freeLoopback() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		scaleFatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *scaleRig) id(i int) string { return fmt.Sprintf("desk-%d", i+1) }

// start runs console i (again, after a kill: same data folder) and waits
// until its control API answers.
func (r *scaleRig) start(i int, more ...string) *scaleConsole {
	id := r.id(i)
	data := filepath.Join(r.dir, id)
	args := []string{"--id", id, "--data", data, "--http", "off", "--listen", r.addrs[i],
		"--network-key", r.key, "--log-level", *logLevel}
	if r.netns {
		args = append(args, "--board", "mock,nic="+scaleNIC)
		if r.web {
			// The status page in the console's own namespace, for its
			// digest (webDigest); the later flag wins.
			args = append(args, "--http", fmt.Sprintf("127.0.0.1:%d", scaleWebPort))
		}
	} else {
		var peers []string
		for j, a := range r.addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		args = append(args, "--discovery", "off", "--peers", strings.Join(peers, ","))
	}
	args = append(append(args, r.extra...), more...)
	exe, err := filepath.Abs(filepath.Join(*bin, "consoled"))
	if err != nil {
		scaleFatal(err)
	}
	cmd := exec.Command(exe, args...)
	ns := ""
	if r.netns {
		ns = fmt.Sprintf("%s-%d", r.name, i+1)
		// ip netns exec execs consoled in place: the pid is consoled's.
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, exe}, args...)...)
	}
	cmd.Stderr = os.Stderr
	if *cpuProf != "" {
		cmd.Env = append(os.Environ(), "CONSOLED_CPUPROFILE="+filepath.Join(*cpuProf, r.name+"-"+id+".prof"))
	}
	// Its own process group, so Ctrl-C reaches only the bench, which cleans
	// up; and killed with the bench should the bench die without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		scaleFatal(err)
	}
	socket := filepath.Join(data, "consoled.sock")
	c := &scaleConsole{
		console: &console{cmd: cmd, socket: socket, client: client.Unix(socket),
			post: client.New(client.DialUnix(socket), client.Options{Where: socket, IdleConns: *writers})},
		id: id, ns: ns, data: data, exited: make(chan struct{}),
	}
	go func() { cmd.Wait(); close(c.exited) }()
	r.mu.Lock()
	r.cs[i] = c
	r.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.client.Status(ctx)
		cancel()
		if err == nil {
			return c
		}
		select {
		case <-c.exited:
			scaleFatalf("consoled %s exited at start", id)
		default:
		}
		if time.Now().After(deadline) {
			scaleFatalf("consoled %s did not answer within 30s: %v", id, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startAll starts every console at once and returns when all answer.
func (r *scaleRig) startAll(more ...string) {
	var wg sync.WaitGroup
	for i := 0; i < r.n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.start(i, more...) }()
	}
	wg.Wait()
}

// kill SIGKILLs console i (a power cut) and waits until it is gone.
func (r *scaleRig) kill(i int) {
	c := r.cs[i]
	if c == nil {
		return
	}
	c.cmd.Process.Kill()
	<-c.exited
	c.client.Close()
	c.post.Close()
}

// stop logs console i off (SIGINT), killing it should it hang.
func (r *scaleRig) stop(i int) {
	c := r.cs[i]
	if c == nil {
		return
	}
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		slog.Warn("bench: consoled ignored SIGINT for 20s; killing it", "console", c.id)
		c.cmd.Process.Kill()
		<-c.exited
	}
	c.client.Close()
	c.post.Close()
}

// stopAll logs every console off at once.
func (r *scaleRig) stopAll() {
	var wg sync.WaitGroup
	for i := range r.cs {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop(i) }()
	}
	wg.Wait()
}

// close kills what is left of the rig and removes its namespaces (which
// destroys the veths and the bridge in them) and its data.
func (r *scaleRig) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	for i, c := range r.cs {
		if c != nil {
			select {
			case <-c.exited:
			default:
				r.kill(i)
			}
		}
	}
	for _, ns := range r.made {
		if err := nicIP("netns", "del", ns); err != nil {
			slog.Warn("bench: cleanup", "err", err)
		}
	}
	if !*keepData {
		os.RemoveAll(r.dir)
	}
	rigsMu.Lock()
	for j, x := range rigs {
		if x == r {
			rigs = append(rigs[:j], rigs[j+1:]...)
			break
		}
	}
	rigsMu.Unlock()
}

// statuses reads every running console's status at once; a console that
// does not answer has a zero Status with Role "".
func (r *scaleRig) statuses() []api.Status {
	out := make([]api.Status, r.n)
	var wg sync.WaitGroup
	for i, c := range r.cs {
		if c == nil {
			continue
		}
		select {
		case <-c.exited:
			continue
		default:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if st, err := c.client.Status(ctx); err == nil {
				out[i] = st
			}
		}()
	}
	wg.Wait()
	return out
}

// waitMesh waits until every console is connected to every other one (by
// discovery on a bridge) and returns how long that took.
func (r *scaleRig) waitMesh(timeout time.Duration) time.Duration {
	t0 := time.Now()
	for {
		all := true
		for _, st := range r.statuses() {
			conn := 0
			for _, p := range st.Peers {
				if p.Connected {
					conn++
				}
			}
			if conn < r.n-1 {
				all = false
				break
			}
		}
		if all {
			return time.Since(t0)
		}
		if time.Since(t0) > timeout {
			scaleFatalf("%s: the consoles did not all connect to each other within %s: %s", r.name, timeout, r.describe())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled reports the active's index when one console is active and every
// other is a live backup following it at its seq (not copying).
func (r *scaleRig) settled(sts []api.Status) (int, bool) {
	active := -1
	for i, st := range sts {
		if st.Role == "active" {
			if active >= 0 {
				return -1, false
			}
			active = i
		}
	}
	if active < 0 {
		return -1, false
	}
	for i, st := range sts {
		if i == active {
			continue
		}
		if st.Role != "backup" || st.Syncing || st.Active != sts[active].Console || st.Seq != sts[active].Seq {
			return -1, false
		}
	}
	return active, true
}

// waitSettled waits until one console is active and the others are live
// backups at its seq, and returns the active and how long it took.
func (r *scaleRig) waitSettled(timeout time.Duration) (int, time.Duration) {
	a, took, ok := r.trySettled(timeout)
	if !ok {
		scaleFatalf("%s: not one active and %d live backups within %s:\n  %s", r.name, r.n-1, timeout, r.describe())
	}
	return a, took
}

// trySettled is waitSettled that says whether the rig settled in time.
func (r *scaleRig) trySettled(timeout time.Duration) (int, time.Duration, bool) {
	t0 := time.Now()
	for {
		if a, ok := r.settled(r.statuses()); ok {
			return a, time.Since(t0), true
		}
		if time.Since(t0) > timeout {
			return -1, time.Since(t0), false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// describe is every console's role, seq and peers, for a failure message.
func (r *scaleRig) describe() string {
	var parts []string
	for i, st := range r.statuses() {
		conn := 0
		for _, p := range st.Peers {
			if p.Connected {
				conn++
			}
		}
		part := fmt.Sprintf("%s: role %q seq %d following %q syncing %t peers %d/%d", r.id(i), st.Role, st.Seq, st.Active, st.Syncing, conn, len(st.Peers))
		if st.Resume != nil {
			part += fmt.Sprintf(" resume %q %s", st.Resume.Outcome, st.Resume.Detail)
		}
		for _, f := range st.Faults {
			part += fmt.Sprintf(" fault %s: %s", f.Kind, f.Message)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "\n  ")
}

// launch launches console i on show, failing the bench on an error.
func (r *scaleRig) launch(i int, show string) {
	if err := r.tryLaunch(i, show); err != nil {
		scaleFatal(err)
	}
}

// tryLaunch is launch that returns the error a launch ended with.
func (r *scaleRig) tryLaunch(i int, show string) error {
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		_, err := r.cs[i].client.Launch(ctx, show, false)
		cancel()
		if err == nil {
			return nil
		}
		// The answer can be lost on a loaded machine (the control socket
		// has closed a launch's connection with EOF once under a load of
		// 14). Launching again is a no-op once logged on, so look before
		// failing the bench.
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		st, serr := r.cs[i].client.Status(ctx)
		cancel()
		if serr == nil && st.Show == show && st.Role != "off" {
			slog.Warn("bench: a launch's answer was lost, but the console is logged on", "console", r.id(i), "err", err)
			return nil
		}
		if try == 3 || !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: launch on %s: %w", r.name, r.id(i), err)
		}
		slog.Warn("bench: a launch's answer was lost; launching again", "console", r.id(i), "err", err)
	}
}

// launchRestTry launches every console but first at once, and launches
// again (up to three rounds, as an operator would press LAUNCH again) the
// ones whose launch failed; it returns the failures, and fails the bench
// when a console still could not launch.
func (r *scaleRig) launchRestTry(first int, show string) []string {
	var todo []int
	for i := range r.cs {
		if i != first {
			todo = append(todo, i)
		}
	}
	return r.launchTry(todo, show)
}

// launchTry launches the consoles todo at once, as launchRestTry does.
func (r *scaleRig) launchTry(todo []int, show string) []string {
	var failed []string
	for round := 1; len(todo) > 0; round++ {
		errs := make([]error, len(todo))
		parallel(len(todo), func(j int) { errs[j] = r.tryLaunch(todo[j], show) })
		var again []int
		for j, err := range errs {
			if err != nil {
				failed = append(failed, err.Error())
				again = append(again, todo[j])
			}
		}
		if len(again) > 0 && round == 3 {
			scaleFatalf("%s: launches failed three times: %s", r.name, strings.Join(failed, "; "))
		}
		todo = again
	}
	return failed
}

// launchRest launches every console but first at once.
func (r *scaleRig) launchRest(first int, show string) {
	var wg sync.WaitGroup
	for i := range r.cs {
		if i == first {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); r.launch(i, show) }()
	}
	wg.Wait()
}

// txBytes is the bytes console i's NIC has sent (its veth's counter): all
// it sent to the show network, TCP, TLS and beacons included. 0 on loopback.
func (r *scaleRig) txBytes(i int) uint64 {
	if !r.netns {
		return 0
	}
	out, err := exec.Command("ip", "-n", fmt.Sprintf("%s-%d", r.name, i+1), "-j", "-s", "link", "show", "dev", scaleNIC).Output()
	if err != nil {
		return 0
	}
	var links []struct {
		Stats struct {
			TX struct {
				Bytes uint64 `json:"bytes"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) != 1 {
		return 0
	}
	return links[0].Stats.TX.Bytes
}

// digest streams console i's dump and returns the digest at its end,
// without holding the show in memory.
func (r *scaleRig) digest(i int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var t tailWriter
	if err := r.cs[i].client.DumpTo(ctx, &t); err != nil {
		return "", err
	}
	s := string(t.b)
	j := strings.LastIndex(s, `"digest":"`)
	if j < 0 {
		return "", errors.New("no digest at the end of the dump")
	}
	s = s[j+len(`"digest":"`):]
	if k := strings.IndexByte(s, '"'); k >= 0 {
		return s[:k], nil
	}
	return "", errors.New("a cut digest at the end of the dump")
}

// tailWriter keeps the last 4 KB written to it.
type tailWriter struct{ b []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append(t.b[:0], t.b[len(t.b)-4096:]...)
	}
	return len(p), nil
}

var _ io.Writer = (*tailWriter)(nil)

// rssMB is a process's resident set (VmRSS) in MB; 0 if unknown.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// removeStaleRigs deletes namespaces left by a scale bench that died
// without cleaning up (SIGKILL): their pid is in the name.
func removeStaleRigs() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cdscale") {
			continue
		}
		rest := strings.TrimPrefix(f[0], "cdscale")
		pid, err := strconv.Atoi(rest[:strings.IndexByte(rest+"-", '-')])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // that bench still runs
		}
		nicIP("netns", "del", f[0])
	}
}

// webDigest asks console i's status page for its show's digest (GET
// /digest.json, worked out without sending the show), dialling from
// inside its namespace; it tries again while one is being worked out.
func (r *scaleRig) webDigest(i int) (string, uint64, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (c net.Conn, err error) {
		derr := r.inNetns(i, func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, "tcp", addr)
			return err
		})
		return c, derr
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/digest.json", scaleWebPort))
		if err != nil {
			return "", 0, err
		}
		var ans struct {
			Seq    uint64 `json:"seq"`
			Digest string `json:"digest"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && err == nil {
			return ans.Digest, ans.Seq, nil
		}
		if time.Now().After(deadline) {
			return "", 0, fmt.Errorf("%s: /digest.json answered %s", r.id(i), resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
