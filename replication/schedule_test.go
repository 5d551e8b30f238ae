package replication

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// Randomized schedules: consoles launch, edit (one at a time and in
// bursts), log off, crash, lose their link for splits longer than the edit
// log keeps, freeze with edits in flight (as a paused process looks from
// the network), lose their data and log on again while the active logs off
// mid-copy, and crash while the network heals and copies merge. Then the
// network heals and everyone logs on. Every edit sets a key of its own, so
// none is legitimately overwritten, and the check is strict: every
// acknowledged edit is in the final live show, on every console, and no
// archive holds an object the live show lacks (with unique keys nothing
// conflicts, so an archive may only hold what the show holds too).
//
// The engines run in this process, each with its own Pebble store and real
// TLS connections on loopback; a crash stops one without logging off.

var (
	scheduleSeeds = flag.Int("schedule.seeds", 200, "randomized failure schedules to run")
	scheduleFrom  = flag.Int("schedule.from", 0, "first schedule seed")
	scheduleSteps = flag.Int("schedule.steps", 24, "steps per schedule")
	scheduleLog   = flag.Bool("schedule.log", false, "log every engine's lines")
	scheduleTrace = flag.Bool("schedule.trace", false, "log every schedule's steps, not only failed ones")
	scheduleDump  = flag.String("schedule.dump", "", "write the steps and engine logs of each schedule that keeps acknowledged edits only in archives to DIR/SEED.log")
)

const simShow = "demo"

type simConsole struct {
	id, dir, addr string
	peers         []string
	st            *store.Store
	e             *Engine
	running       bool
	master        bool // --master
	gate          *gate
}

type simNet struct {
	t         *testing.T
	r         *rand.Rand
	key       wire.Key
	cs        []*simConsole
	log       *slog.Logger
	logRetain uint64 // the stores' LogRetain; 0 for the default
	bg        sync.WaitGroup
	mu        sync.Mutex
	acked     map[string]string // every acknowledged edit: key → value
	logs      lockedBuffer      // every engine's log, shown when a schedule fails
	nextKey   int
	trace     []string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gate freezes a console's connections the way a pause of its process
// (SIGSTOP, a hung disk, a stalled VM) looks from the network: nothing it
// sends goes out, nothing sent to it is read, and once it thaws, its read
// deadlines have long passed.
type gate struct {
	mu     sync.Mutex
	thawed chan struct{} // closed while not frozen
}

func newGate() *gate {
	g := &gate{thawed: make(chan struct{})}
	close(g.thawed)
	return g
}

func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.thawed:
		g.thawed = make(chan struct{})
	default:
	}
}

func (g *gate) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.thawed:
	default:
		close(g.thawed)
	}
}

func (g *gate) wait(closed <-chan struct{}) error {
	g.mu.Lock()
	ch := g.thawed
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-closed:
		return net.ErrClosed
	}
}

func (g *gate) wrap(nc net.Conn) net.Conn {
	return &gatedConn{Conn: nc, g: g, closed: make(chan struct{})}
}

type gatedConn struct {
	net.Conn
	g      *gate
	once   sync.Once
	closed chan struct{}
}

func (c *gatedConn) Read(b []byte) (int, error) {
	if err := c.g.wait(c.closed); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *gatedConn) Write(b []byte) (int, error) {
	if err := c.g.wait(c.closed); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *gatedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// freePort picks a free port below the kernel's ephemeral range: a console
// restarted after a crash listens on its port again, which an outgoing
// connection of another test could have been given in between. The ports
// are handed out in turn, not at random, so that two schedules running
// side by side never pick the same one between its check and its use.
func freePort(t *testing.T) string {
	t.Helper()
	for {
		n := nextPort.Add(1)
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+(portBase+n)%12000)
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
}

var (
	nextPort atomic.Int64
	portBase = rand.Int64N(12000) // another run of the test may be using ports too
)

func newSimNet(t *testing.T, seed uint64, n int) *simNet {
	return newSimNetRetain(t, seed, n, 0)
}

func newSimNetRetain(t *testing.T, seed uint64, n int, logRetain uint64) *simNet {
	s := &simNet{logRetain: logRetain}
	dir := t.TempDir()
	key, _, err := wire.LoadOrCreateKey(filepath.Join(dir, "network.key"))
	if err != nil {
		t.Fatal(err)
	}
	var out io.Writer = &s.logs
	if *scheduleLog {
		out = io.MultiWriter(os.Stderr, &s.logs)
	}
	s.t, s.r, s.key, s.acked = t, rand.New(rand.NewPCG(seed, 99)), key, map[string]string{}
	s.log = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for i := 0; i < n; i++ {
		s.cs = append(s.cs, &simConsole{id: fmt.Sprintf("desk-%d", i+1), dir: filepath.Join(dir, fmt.Sprint(i+1)), addr: freePort(t), gate: newGate()})
	}
	for _, c := range s.cs {
		for _, o := range s.cs {
			if o != c {
				c.peers = append(c.peers, o.addr)
			}
		}
		s.start(c)
	}
	t.Cleanup(func() {
		for _, c := range s.cs {
			c.gate.thaw()
		}
		s.bg.Wait()
		for _, c := range s.cs {
			if c.running {
				c.e.Close()
				c.st.Close()
			}
		}
	})
	return s
}

func (s *simNet) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trace = append(s.trace, fmt.Sprintf(format, args...))
}

func (s *simNet) steps() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.trace, "\n  ")
}

func (s *simNet) start(c *simConsole) {
	st, err := store.Open(c.dir, store.Options{Logger: s.log, LogRetain: s.logRetain})
	if err != nil {
		s.t.Fatal(err)
	}
	tlsConf, err := wire.NewTLS(s.key, c.id)
	if err != nil {
		s.t.Fatal(err)
	}
	e, err := New(Options{
		ID: c.id, Store: st, Logger: s.log, Key: s.key, Listen: c.addr, Peers: c.peers, Master: c.master,
		JoinWait: 300 * time.Millisecond, TakeoverTimeout: 500 * time.Millisecond,
		HandOverWait: 200 * time.Millisecond, HandOverLimit: 3 * time.Second, FailoverWait: time.Second,
		Transport: tlsTransport{tls: tlsConf, wrap: c.gate.wrap}, copyDelay: 20 * time.Millisecond,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		st.Close()
		s.t.Fatalf("%s: %v", c.id, err)
	}
	c.st, c.e, c.running = st, e, true
}

// crash stops a console the way a power cut does: no log-off, no leaving
// message, its connections just end.
func (s *simNet) crash(c *simConsole) {
	e := c.e
	e.netCancel()
	e.net.ln.Close()
	for _, p := range e.connected() {
		p.conn.Close()
	}
	e.closeOnce.Do(func() { close(e.closing) })
	e.mu.Lock()
	e.endSession()
	e.mu.Unlock()
	e.net.wg.wait(e.sched)
	c.st.Close()
	c.running = false
}

func (s *simNet) newKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextKey++
	return fmt.Sprintf("cue/%d", s.nextKey)
}

func (s *simNet) edit(c *simConsole) { s.editOn(c.e, c.id) }

// editOn makes one edit on e (console id), from any goroutine.
func (s *simNet) editOn(e *Engine, id string) {
	k, v := s.newKey(), "from "+id
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := e.Submit(ctx, []store.Op{{Key: k, Value: []byte(v)}})
	s.mu.Lock()
	if err == nil {
		s.acked[k] = v
	}
	s.mu.Unlock()
	if err == nil {
		s.note("%s set %s: acknowledged", id, k)
	} else {
		s.note("%s set %s: %v", id, k, err)
	}
}

// burst makes n edits on c from 8 clients at once.
func (s *simNet) burst(c *simConsole, n int) {
	s.note("%s: burst of %d edits", c.id, n)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(e *Engine, id string) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				s.editOn(e, id)
			}
		}(c.e, c.id)
	}
	wg.Wait()
}

func (s *simNet) launch(c *simConsole, force bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.e.Launch(ctx, simShow, force)
	s.note("%s launch force=%v: %v", c.id, force, err)
	return err
}

func (s *simNet) pause(max int) { time.Sleep(time.Duration(s.r.IntN(max)) * time.Millisecond) }

// other returns a running console other than c with role, or nil.
func (s *simNet) other(c *simConsole, role Role) *simConsole {
	for _, i := range s.r.Perm(len(s.cs)) {
		if o := s.cs[i]; o != c && o.running && o.e.Status().Role == role {
			return o
		}
	}
	return nil
}

func (s *simNet) step() {
	c := s.cs[s.r.IntN(len(s.cs))]
	if !c.running {
		s.note("%s restarts", c.id)
		s.start(c)
		return
	}
	role := c.e.Status().Role
	switch x := s.r.IntN(100); {
	case x < 36:
		if role != RoleOff {
			for i := 0; i < 1+s.r.IntN(4); i++ {
				s.edit(c)
			}
		} else {
			s.launch(c, s.r.IntN(4) == 0)
		}
	case x < 42:
		if role != RoleOff {
			s.burst(c, 20+s.r.IntN(150))
		}
	case x < 52:
		s.note("%s logs off", c.id)
		c.e.Logoff(context.Background())
	case x < 60:
		s.note("%s crashes", c.id)
		s.crash(c)
	case x < 69:
		up := !c.e.Status().LinkUp
		s.note("%s link up=%v", c.id, up)
		c.e.SetLink(up)
	case x < 75:
		// A split longer than the edit log keeps, with edits on both sides.
		s.note("%s link up=false (long split)", c.id)
		c.e.SetLink(false)
		s.pause(50)
		if role != RoleOff {
			s.burst(c, 20+s.r.IntN(100))
		}
		if o := s.other(c, RoleActive); o != nil {
			s.burst(o, 20+s.r.IntN(100))
		}
	case x < 81:
		// The active freezes with edits in flight: the others take it for
		// gone and choose another; it wakes and must not acknowledge them
		// on its own disk alone.
		if a := s.other(nil, RoleActive); a != nil {
			s.note("%s freezes", a.id)
			a.gate.freeze()
			for i := 0; i < 3; i++ {
				s.bg.Add(1)
				go func(e *Engine, id string) {
					defer s.bg.Done()
					s.editOn(e, id)
				}(a.e, a.id)
			}
			s.pause(700)
			time.Sleep(300 * time.Millisecond)
			s.note("%s thaws", a.id)
			a.gate.thaw()
		}
	case x < 87:
		// A backup loses its data and logs on again; the active logs off
		// while its copy is under way. Only a live backup's: its copy is
		// a prefix of the active's, so the disk lost holds nothing the
		// show would lack.
		if st := c.e.Status(); st.Role != RoleBackup || st.Syncing || st.Active == "" {
			break
		}
		s.note("%s crashes and loses its copy", c.id)
		s.crash(c)
		if err := os.RemoveAll(filepath.Join(c.dir, "shows")); err != nil {
			s.t.Fatal(err)
		}
		s.start(c)
		a := s.other(c, RoleActive)
		s.bg.Add(1)
		go func(e *Engine, id string) {
			defer s.bg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := e.Launch(ctx, simShow, false)
			s.note("%s launch (wiped): %v", id, err)
		}(c.e, c.id)
		if a != nil {
			s.pause(30)
			s.note("%s logs off while %s may be copying", a.id, c.id)
			a.e.Logoff(context.Background())
		}
	case x < 92:
		// The network heals and a console crashes while the copies meet
		// and merge.
		s.note("all links up")
		for _, o := range s.cs {
			if o.running {
				o.e.SetLink(true)
			}
		}
		s.pause(80)
		if v := s.other(nil, RoleActive); v != nil && s.r.IntN(2) == 0 {
			s.note("%s crashes while the network heals", v.id)
			s.crash(v)
		} else if v := s.other(nil, RoleBackup); v != nil {
			s.note("%s crashes while the network heals", v.id)
			s.crash(v)
		}
	default:
		if role == RoleOff {
			s.launch(c, false)
		}
	}
	s.pause(60)
}

// heal plugs every cable back, restarts every console and logs them all
// on; a console refused as stale tries again once the others are on, and
// is forced in the end, as an operator would.
func (s *simNet) heal() {
	for _, c := range s.cs {
		c.gate.thaw()
	}
	s.bg.Wait()
	for _, c := range s.cs {
		if !c.running {
			s.start(c)
		}
		c.e.SetLink(true)
	}
	for round := 0; round < 4; round++ {
		off := 0
		for _, c := range s.cs {
			if c.e.Status().Role == RoleOff {
				err := s.launch(c, round == 3)
				if err != nil && !errors.Is(err, ErrStale) {
					s.note("%s heal launch: %v", c.id, err)
				}
				off++
			}
		}
		if off == 0 {
			return
		}
	}
}

// converged reports whether one console is active, the others follow it
// and all hold the same show.
func (s *simNet) converged() (bool, string) {
	var active string
	var digest [32]byte
	for i, c := range s.cs {
		st := c.e.Status()
		switch {
		case st.Role == RoleActive && active == "":
			active = c.id
		case st.Role == RoleBackup && !st.Syncing:
		default:
			return false, fmt.Sprintf("%s is %s (syncing %v)", c.id, st.Role, st.Syncing)
		}
		_, d, _, err := c.e.Dump(func(store.Object) error { return nil })
		if err != nil {
			return false, err.Error()
		}
		if i > 0 && d != digest {
			return false, fmt.Sprintf("%s has another digest", c.id)
		}
		digest = d
	}
	for _, c := range s.cs {
		if st := c.e.Status(); st.Role == RoleBackup && st.Active != active {
			return false, fmt.Sprintf("%s follows %q, not %s", c.id, st.Active, active)
		}
	}
	return active != "", "no active"
}

// waitConverged waits up to 30 s until the network has converged.
func (s *simNet) waitConverged(what string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ok, why := s.converged(); !ok; ok, why = s.converged() {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not converge: %s\n%s", what, why, s.steps())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// objects returns what c's show holds.
func (s *simNet) objects(c *simConsole) map[string]string {
	out := map[string]string{}
	c.e.Dump(func(o store.Object) error { out[o.Key] = string(o.Value); return nil })
	return out
}

// restart stops c cleanly, lets change alter how it is set up, and starts
// it again.
func (s *simNet) restart(c *simConsole, change func()) {
	c.e.Close()
	c.st.Close()
	c.running = false
	change()
	s.start(c)
}

// checkStrict is the schedules' check: every acknowledged edit is in the
// live show of every console, and no archive holds an object the live show
// lacks (keys are unique, so no archived version lost a conflict).
func (s *simNet) checkStrict(seed uint64) {
	s.t.Helper()
	for _, c := range s.cs {
		live := s.objects(c)
		missing := 0
		for k, v := range s.acked {
			if live[k] != v {
				missing++
				if missing <= 10 {
					s.t.Errorf("schedule %d: acknowledged %s=%q is not in %s's live show (%q)", seed, k, v, c.id, live[k])
				}
			}
		}
		if missing > 10 {
			s.t.Errorf("schedule %d: %d acknowledged edits are not in %s's live show", seed, missing, c.id)
		}
		list, err := c.st.Archives()
		if err != nil {
			s.t.Error(err)
		}
		for _, a := range list {
			err := c.st.ReadArchive(a.Name, func(o store.Object) error {
				if live[o.Key] != string(o.Value) {
					return fmt.Errorf("holds %s=%q, the live show %q", o.Key, o.Value, live[o.Key])
				}
				return nil
			})
			if err != nil {
				s.t.Errorf("schedule %d: %s's archive %s (%s): %v", seed, c.id, a.Name, a.Why, err)
			}
		}
	}
}

func runSchedule(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	n := 3 + r.IntN(3)
	var retain uint64
	if r.IntN(2) == 0 {
		retain = 16 // every split outlasts the edit log
	}
	s := newSimNetRetain(t, seed, n, retain)
	defer func() {
		if t.Failed() || *scheduleTrace {
			t.Logf("schedule %d (%d consoles, log retain %d):\n  %s", seed, n, retain, s.steps())
		}
		if t.Failed() && !*scheduleLog {
			for _, c := range s.cs {
				if c.running {
					st := c.e.Status()
					t.Logf("%s: role %s syncing %v active %q seq %d epochs %v peers %+v", c.id, st.Role, st.Syncing, st.Active, st.Seq, st.Epochs, st.Peers)
				}
			}
			t.Logf("engine logs:\n%s", s.logs.String())
		}
		if t.Failed() {
			t.Logf("replay: go test ./replication -run 'TestRandomSchedules/^%d$' -schedule.from=%d -schedule.seeds=1 -schedule.trace -v", seed, seed)
			if *scheduleDump != "" {
				out := fmt.Sprintf("schedule %d\n\n%s\n\n%s", seed, s.steps(), s.logs.String())
				if err := os.WriteFile(filepath.Join(*scheduleDump, fmt.Sprintf("%d.log", seed)), []byte(out), 0o644); err != nil {
					t.Log(err)
				}
			}
		}
	}()
	// The show starts on one console and reaches the others.
	for i, c := range s.cs {
		if err := s.launch(c, false); err != nil {
			t.Fatalf("initial launch on %s: %v", c.id, err)
		}
		if i == 0 {
			s.edit(c)
		}
	}
	for i := 0; i < *scheduleSteps; i++ {
		s.step()
	}
	s.note("heal")
	s.heal()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, why := s.converged()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			var stacks strings.Builder
			pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Logf("goroutines:\n%s", stacks.String())
			t.Fatalf("schedule %d did not converge: %s", seed, why)
		}
		time.Sleep(20 * time.Millisecond)
		s.heal()
	}
	s.checkStrict(seed)
}

func TestRandomSchedules(t *testing.T) {
	n := *scheduleSeeds
	if testing.Short() {
		n = min(n, 20)
	}
	if raceEnabled {
		// The simulation (sim_test.go) runs the same faults by the
		// thousand; these check the real TLS transport and real time.
		n = min(n, 60)
	}
	// A schedule mostly waits (heartbeats, failovers): run several side by
	// side, more than t.Parallel would on two cores; the load they put on
	// each other is one more source of late heartbeats.
	seeds := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < scheduleWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				t.Run(fmt.Sprint(seed), func(t *testing.T) { runSchedule(t, uint64(seed)) })
			}
		}()
	}
	for seed := *scheduleFrom; seed < *scheduleFrom+n; seed++ {
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
}

// scheduleWorkers is how many schedules run at once.
const scheduleWorkers = 4

// TestLaunchRightAfterAnother: consoles that launch a new show one right
// after the other, as soon as they have started, end up on one show: the
// first creates it and the others join it, and every acknowledged edit is
// in it. A console that missed the first one's launch used to create a show
// of its own, and when the two met, the acknowledged edits of one went to
// an archive. The window is a few milliseconds, so the test repeats it.
func TestLaunchRightAfterAnother(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	for round := 0; round < rounds; round++ {
		s := newSimNet(t, uint64(round), 3)
		for _, c := range s.cs {
			if err := s.launch(c, false); err != nil {
				t.Fatal(err)
			}
			s.edit(c)
		}
		s.waitConverged(fmt.Sprintf("round %d", round))
		ids := map[string]bool{}
		for _, c := range s.cs {
			ids[c.e.Status().ShowID] = true
		}
		final := s.objects(s.cs[0])
		for k, v := range s.acked {
			if final[k] != v {
				t.Errorf("round %d: acknowledged %s=%q is not in the show (%q)", round, k, v, final[k])
			}
		}
		if len(ids) != 1 || t.Failed() {
			t.Fatalf("round %d: %d shows (%v)\n%s\n\nengine logs:\n%s", round, len(ids), ids, s.steps(), s.logs.String())
		}
	}
}

// TestLaunchDuringFailover: the active logs off and launches again at once,
// while the backups are still choosing which of them takes over. It must
// join the new active: its copy is outdated (the others carry on), and none
// of them is active yet when it looks. Asking them for a newer copy gets
// it told to join instead; that answer is no stale-copy error (a loaded
// host delays the new active's first State).
func TestLaunchDuringFailover(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	s := newSimNet(t, 7, 3)
	for _, c := range s.cs {
		if err := s.launch(c, false); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < rounds; round++ {
		s.waitConverged(fmt.Sprintf("round %d", round))
		var active *simConsole
		for _, c := range s.cs {
			if c.e.Status().Role == RoleActive {
				active = c
			}
		}
		s.edit(active)
		if err := active.e.Logoff(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := s.launch(active, false); err != nil {
			t.Fatalf("round %d: launch during the failover: %v\n%s", round, err, s.steps())
		}
		if st := active.e.Status(); st.Role != RoleBackup {
			t.Fatalf("round %d: %s launched as %s, not as a backup of the new active", round, active.id, st.Role)
		}
	}
	final := s.objects(s.cs[0])
	for k, v := range s.acked {
		if final[k] != v {
			t.Errorf("acknowledged %s=%q is not in the show (%q)", k, v, final[k])
		}
	}
}

// TestStaleLaunchActiveOutOfReach: a console whose copy is outdated, that
// can reach a backup of the show but not its active, is refused, and the
// refusal says so (not "join it instead", which it cannot do from here).
func TestStaleLaunchActiveOutOfReach(t *testing.T) {
	s := newSimNet(t, 11, 3)
	a, b, c := s.cs[0], s.cs[1], s.cs[2]
	for _, x := range s.cs {
		if err := s.launch(x, false); err != nil {
			t.Fatal(err)
		}
	}
	s.waitConverged("the network")
	if a.e.Status().Role != RoleActive {
		t.Fatalf("%s is %s, want active", a.id, a.e.Status().Role)
	}
	if err := c.e.Logoff(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.edit(a) // the others carry on: c's copy is outdated
	// c comes back on a new port knowing only b: a cannot dial it, it
	// cannot dial a.
	s.restart(c, func() { c.addr, c.peers = freePort(t), []string{b.addr} })
	err := s.launch(c, false)
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), b.id+" is on the show with an active this console cannot reach yet") {
		t.Fatalf("launch: %v", err)
	}
	if st := c.e.Status(); st.Role != RoleOff {
		t.Fatalf("%s is %s after a refused launch", c.id, st.Role)
	}
}

// TestJoinRecordsTheMaster: a console that joined a show records at once
// that the master console is on it. The master can log off straight after,
// and its State then no longer names the show: the record is all that
// makes this console wait for it at its next launch (rule 5). Left to the
// next reconcile, a busy machine could delay it past the master's log-off.
func TestJoinRecordsTheMaster(t *testing.T) {
	s := newSimNet(t, 13, 2)
	m, b := s.cs[0], s.cs[1]
	s.restart(m, func() { m.master = true })
	for _, c := range s.cs {
		if err := s.launch(c, false); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.e.Status(); st.Role != RoleBackup {
		t.Fatalf("%s launched as %s, want backup", b.id, st.Role)
	}
	pres, err := b.st.Presence(simShow)
	if err != nil {
		t.Fatal(err)
	}
	if pres.Master != m.id || !slices.Contains(pres.With, m.id) {
		t.Fatalf("%s's record of the show right after its launch: %+v, want master %s", b.id, pres, m.id)
	}
}

// TestLaunchWhileReconnecting: a console launching just as its connection
// to the active was replaced (two consoles that dialled each other keep one
// connection; the console whose one was closed has none until the other's
// is through) waits for the active to be back and joins it, rather than
// finding nobody connected and creating a second show next to the active's.
func TestLaunchWhileReconnecting(t *testing.T) {
	s := newSimNet(t, 17, 2)
	a, b := s.cs[0], s.cs[1]
	if err := s.launch(a, false); err != nil {
		t.Fatal(err)
	}
	s.edit(a)
	for round := 0; round < 5; round++ {
		deadline := time.Now().Add(10 * time.Second)
		for len(b.e.connected()) == 0 { // back from the last round
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %s did not reconnect", round, b.id)
			}
			time.Sleep(time.Millisecond)
		}
		// Launch at once: its connection is ending, or being replaced.
		for _, p := range b.e.connected() {
			p.conn.Close()
		}
		if err := s.launch(b, false); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if st := b.e.Status(); st.Role != RoleBackup || st.ShowID != a.e.Status().ShowID {
			t.Fatalf("round %d: %s launched as %s of show %s, want a backup of %s's show %s",
				round, b.id, st.Role, st.ShowID, a.id, a.e.Status().ShowID)
		}
		s.edit(b)
		if err := b.e.Logoff(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	final := s.objects(a)
	for k, v := range s.acked {
		if final[k] != v {
			t.Errorf("acknowledged %s=%q is %q on the active", k, v, final[k])
		}
	}
}

// TestLaunchJoinRefused: a console whose launch picks a console that is no
// longer active (its State saying otherwise is on the way) is refused by
// it, looks again and joins the real active: that refusal is not a final
// one.
func TestLaunchJoinRefused(t *testing.T) {
	s := newSimNet(t, 23, 3)
	a, b, c := s.cs[0], s.cs[1], s.cs[2]
	if err := s.launch(a, false); err != nil {
		t.Fatal(err)
	}
	s.edit(a)
	deadline := time.Now().Add(10 * time.Second)
	var pc *peer
	for pc == nil || pc.State().Role != string(RoleOff) || b.e.activeFor(simShow) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not see %s active and %s off", b.id, a.id, c.id)
		}
		time.Sleep(time.Millisecond)
		pc = b.e.peerAt(c.addr)
	}
	// What b would believe for a moment had c just been active, further
	// ahead than a, and stepped down: c's next State puts it right.
	pc.setState(wire.State{Console: c.id, Role: string(RoleActive), Show: simShow, Seq: 1000})
	if got := b.e.activeFor(simShow); got != pc {
		t.Fatalf("%s takes %v for the active, want %s", b.id, got, c.id)
	}
	if err := s.launch(b, false); err != nil {
		t.Fatalf("launch: %v", err)
	}
	if st := b.e.Status(); st.Role != RoleBackup || st.Active != a.id {
		t.Fatalf("%s is %s following %q, want a backup of %s", b.id, st.Role, st.Active, a.id)
	}
}
