package replication

// The deterministic simulation: the randomized fault schedules, run on the
// simulated scheduler (simsched_test.go) and network (memnet_test.go), with
// each console's store in a temporary directory on tmpfs. Everything a run
// does follows from its seed: which faults, when, the network's delays, the
// consoles' random IDs. One seed replays the identical run, and its event
// log (every step, every engine log line, on the simulated clock) is the
// same byte for byte; a failing seed prints the command that replays it.
//
// The check is the strict one: every acknowledged edit is in the final
// live show of every console, every console ends with one digest, and no
// archive holds an object the live show lacks (each edit sets a key of its
// own, so nothing conflicts).
//
// go test ./replication -run TestSimulation -sim.seeds=N -sim.from=K runs
// other seeds; -sim.log prints a failing run's event log (it is printed
// for the first failing seed by default).

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"consoled/replication/store"
)

var (
	simSeeds = flag.Int("sim.seeds", 1000, "simulated fault schedules to run")
	simFrom  = flag.Int("sim.from", 0, "first simulated schedule's seed")
	simSteps = flag.Int("sim.steps", 30, "steps per simulated schedule")
	simLog   = flag.Bool("sim.log", false, "print the event log of every failing simulated schedule")
)

// simBudget bounds one run's real time: a run takes well under a second.
const simBudget = 20 * time.Second

// simStart is when every simulated run begins.
var simStart = time.Date(2026, 1, 1, 20, 0, 0, 0, time.UTC)

// simWorld is one simulated run: consoles, network, clock.
type simWorld struct {
	seed  uint64
	s     *simSched
	net   *memNet
	rng   *rand.Rand
	dir   string
	desks []*simDesk
	log   *slog.Logger

	events bytes.Buffer      // the event log: steps and engine lines, on the simulated clock
	acked  map[string]string // every acknowledged edit
	next   int               // the next key
	retain uint64            // the stores' LogRetain; 0 for the default
	starts uint64            // consoles started so far: each gets random numbers of its own
	budget time.Time         // real time by which the run must be done (a livelock shows as slowness)
}

// errSimBudget stops a run that takes too long in real time.
type errSimBudget struct{ at time.Duration }

// simDesk is one simulated console.
type simDesk struct {
	id, addr string
	peers    []string
	dir      string
	st       *store.Store
	e        *Engine
	running  bool
	linkUp   bool
}

// seedReader is a reader of seeded random bytes: the consoles' epoch IDs,
// ShowIDs and archive names.
type seedReader struct{ r *rand.Rand }

func (s seedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

func (w *simWorld) newLogger() *slog.Logger {
	h := slog.NewTextHandler(&w.events, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String("t", w.s.now.Sub(simStart).String())
			}
			return a
		},
	})
	return slog.New(h)
}

func (w *simWorld) note(format string, args ...any) {
	fmt.Fprintf(&w.events, "t=%s step: %s\n", w.s.now.Sub(simStart), fmt.Sprintf(format, args...))
}

func newSimWorld(t testing.TB, seed uint64, n int, retain uint64) *simWorld {
	root := os.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		root = "/dev/shm" // tmpfs: the stores' fsyncs cost nothing
	}
	dir, err := os.MkdirTemp(root, fmt.Sprintf("consoled-sim-%d-", seed))
	if err != nil {
		t.Fatal(err)
	}
	w := &simWorld{seed: seed, s: newSimSched(simStart), rng: rand.New(rand.NewPCG(seed, 7)), dir: dir,
		acked: map[string]string{}, retain: retain, budget: time.Now().Add(simBudget)}
	w.net = newMemNet(w.s, rand.New(rand.NewPCG(seed, 11)))
	w.log = w.newLogger()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("desk-%d", i+1)
		w.desks = append(w.desks, &simDesk{id: id, addr: id + ":7400", dir: filepath.Join(dir, id), linkUp: true})
	}
	for _, d := range w.desks {
		for _, o := range w.desks {
			if o != d {
				d.peers = append(d.peers, o.addr)
			}
		}
		w.start(d)
	}
	return w
}

// close stops everything and removes the run's files.
func (w *simWorld) close() {
	for _, d := range w.desks {
		if d.running {
			w.crash(d)
		}
	}
	w.s.close()
	os.RemoveAll(w.dir)
}

func (w *simWorld) start(d *simDesk) {
	w.s.revive(d.id)
	w.starts++
	rng := rand.New(rand.NewPCG(w.seed, 1000+w.starts))
	st, err := store.Open(d.dir, store.Options{Logger: w.log, LogRetain: w.retain, Rand: seedReader{rng}, MemTableBytes: 1 << 20, CacheBytes: 1 << 20,
		Now: func() time.Time { return w.s.now }, NoCompactions: true, NoPreallocate: true, OnFatal: func(string, error) {}})
	if err != nil {
		panic(err)
	}
	e, err := New(Options{
		ID: d.id, Store: st, Logger: w.log, Listen: d.addr, Peers: d.peers,
		Transport: w.net.transport(d.id),
		JoinWait:  300 * time.Millisecond, TakeoverTimeout: 500 * time.Millisecond,
		HandOverWait: 200 * time.Millisecond, HandOverLimit: 3 * time.Second, FailoverWait: time.Second,
		sched: w.s.on(d.id), rand: seedReader{rng}, copyDelay: 20 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	if err := e.Start(); err != nil {
		panic(err)
	}
	d.st, d.e, d.running, d.linkUp = st, e, true, true
	for _, o := range w.desks {
		w.net.block(d.id, o.id, false)
	}
}

// crash ends a console as a power cut does: its goroutines stop where they
// are, its connections fail, nothing is logged off.
func (w *simWorld) crash(d *simDesk) {
	w.s.kill(d.id)
	w.net.down(d.id)
	for w.hasProcs(d.id) {
		w.s.step()
	}
	delete(w.s.frozen, d.id)
	d.st.Close()
	d.running = false
}

func (w *simWorld) hasProcs(node string) bool {
	for _, p := range w.s.procs {
		if p.node == node && !p.done {
			return true
		}
	}
	return false
}

// do runs f as an operator's action on console d: a coroutine of d's (a
// crash ends it too).
func (w *simWorld) do(d *simDesk, name string, f func(e *Engine)) {
	e := d.e
	w.s.spawn(d.id, name, nil, func() { f(e) })
}

// wait lets the simulation run for d.
func (w *simWorld) wait(d time.Duration) {
	until := w.s.now.Add(d)
	steps := 0
	w.s.runUntil(until.Add(time.Hour), func() bool {
		if steps++; steps%1000 == 0 && time.Now().After(w.budget) {
			panic(errSimBudget{w.s.now.Sub(simStart)})
		}
		return !w.s.now.Before(until)
	})
	if w.s.now.Before(until) {
		w.s.now = until // nothing left to happen before then
	}
}

func (w *simWorld) edit(d *simDesk) {
	w.next++
	k, v := fmt.Sprintf("cue/%d", w.next), "from "+d.id
	w.do(d, "edit", func(e *Engine) {
		_, err := e.Submit(context.Background(), []store.Op{{Key: k, Value: []byte(v)}})
		if err == nil {
			w.acked[k] = v
			w.note("%s set %s: acknowledged", d.id, k)
		} else {
			w.note("%s set %s: %v", d.id, k, err)
		}
	})
}

func (w *simWorld) launch(d *simDesk, force bool) {
	w.do(d, "launch", func(e *Engine) {
		err := e.Launch(context.Background(), simShow, force)
		w.note("%s launch force=%v: %v", d.id, force, err)
	})
}

func (w *simWorld) pick() *simDesk { return w.desks[w.rng.IntN(len(w.desks))] }

// with returns a running console of role, or nil.
func (w *simWorld) with(role Role, not *simDesk) *simDesk {
	for _, i := range w.rng.Perm(len(w.desks)) {
		if d := w.desks[i]; d != not && d.running && d.e.Status().Role == role {
			return d
		}
	}
	return nil
}

// setLink pulls or plugs d's cable: nothing passes while it is out (what
// was in flight waits, as on TCP), and the console is told, as netlink
// would tell it.
func (w *simWorld) setLink(d *simDesk, up bool) {
	d.linkUp = up
	for _, o := range w.desks {
		if o != d {
			w.net.block(d.id, o.id, !up || !o.linkUp)
		}
	}
	d.e.SetLink(up)
}

func (w *simWorld) step() {
	d := w.pick()
	if !d.running {
		w.note("%s restarts", d.id)
		w.start(d)
		return
	}
	role := d.e.Status().Role
	switch x := w.rng.IntN(100); {
	case x < 30:
		if role == RoleOff {
			w.launch(d, w.rng.IntN(4) == 0)
			break
		}
		for i := 0; i < 1+w.rng.IntN(4); i++ {
			w.edit(d)
		}
	case x < 38:
		if role != RoleOff {
			n := 20 + w.rng.IntN(150)
			w.note("%s: burst of %d edits", d.id, n)
			for i := 0; i < n; i++ {
				w.edit(d)
			}
		}
	case x < 46:
		w.note("%s logs off", d.id)
		w.do(d, "logoff", func(e *Engine) { e.Logoff(context.Background()) })
	case x < 53:
		w.note("%s crashes", d.id)
		w.crash(d)
	case x < 61:
		w.note("%s link up=%v", d.id, !d.linkUp)
		w.setLink(d, !d.linkUp)
	case x < 67:
		w.note("%s link up=false (long split)", d.id)
		w.setLink(d, false)
		if role != RoleOff {
			for i := 0; i < 20+w.rng.IntN(100); i++ {
				w.edit(d)
			}
		}
		if o := w.with(RoleActive, d); o != nil {
			for i := 0; i < 20+w.rng.IntN(100); i++ {
				w.edit(o)
			}
		}
	case x < 73:
		// The active is paused with edits in flight: the others take it
		// for gone and choose another; when it wakes it must not
		// acknowledge them on its own disk alone.
		if a := w.with(RoleActive, nil); a != nil {
			for i := 0; i < 3; i++ {
				w.edit(a)
			}
			pause := 300*time.Millisecond + time.Duration(w.rng.IntN(700))*time.Millisecond
			w.note("%s freezes for %s", a.id, pause)
			w.s.freeze(a.id, pause)
		}
	case x < 78:
		// Two consoles cannot reach each other for a while (a switch
		// port), or their connection is cut mid-message.
		o := w.pick()
		if o == d || !o.running {
			break
		}
		if w.rng.IntN(2) == 0 {
			w.note("%s and %s: connection cut", d.id, o.id)
			w.net.cut(d.id, o.id)
			break
		}
		dur := time.Duration(100+w.rng.IntN(900)) * time.Millisecond
		w.note("%s and %s: partitioned for %s", d.id, o.id, dur)
		w.net.block(d.id, o.id, true)
		w.s.at(w.s.now.Add(dur), "", func() {
			if d.linkUp && o.linkUp {
				w.net.block(d.id, o.id, false)
			}
		})
	case x < 84:
		// A live backup loses its data and logs on again; the active logs
		// off while its copy is under way.
		if st := d.e.Status(); st.Role != RoleBackup || st.Syncing || st.Active == "" {
			break
		}
		w.note("%s crashes and loses its copy", d.id)
		w.crash(d)
		if err := os.RemoveAll(filepath.Join(d.dir, "shows")); err != nil {
			panic(err)
		}
		w.start(d)
		w.launch(d, false)
		if a := w.with(RoleActive, d); a != nil {
			w.wait(time.Duration(w.rng.IntN(30)) * time.Millisecond)
			w.note("%s logs off while %s may be copying", a.id, d.id)
			w.do(a, "logoff", func(e *Engine) { e.Logoff(context.Background()) })
		}
	case x < 90:
		// The network heals and a console crashes while the copies meet
		// and merge.
		w.note("all links up")
		for _, o := range w.desks {
			if o.running && !o.linkUp {
				w.setLink(o, true)
			}
		}
		w.wait(time.Duration(w.rng.IntN(80)) * time.Millisecond)
		if v := w.with(RoleActive, nil); v != nil && w.rng.IntN(2) == 0 {
			w.note("%s crashes while the network heals", v.id)
			w.crash(v)
		} else if v := w.with(RoleBackup, nil); v != nil {
			w.note("%s crashes while the network heals", v.id)
			w.crash(v)
		}
	default:
		if role == RoleOff {
			w.launch(d, false)
		}
	}
	w.wait(time.Duration(w.rng.IntN(60)) * time.Millisecond)
}

// heal plugs every cable back, restarts every console and logs them all
// on; a console refused as stale tries again once the others are on, and
// is forced in the end, as an operator would.
func (w *simWorld) heal() {
	w.s.frozen = map[string]time.Time{}
	for _, d := range w.desks {
		if !d.running {
			w.note("%s restarts", d.id)
			w.start(d)
		}
	}
	for _, d := range w.desks {
		if !d.linkUp {
			w.setLink(d, true)
		}
		for _, o := range w.desks {
			w.net.block(d.id, o.id, false)
		}
	}
	for round := 0; round < 4; round++ {
		off := false
		for _, d := range w.desks {
			if d.e.Status().Role == RoleOff && !w.busy(d, "launch") {
				w.launch(d, round == 3)
				off = true
			}
		}
		if !off {
			return
		}
		w.wait(2 * time.Second)
	}
}

// busy reports whether an operator's action named one of names is under
// way on d.
func (w *simWorld) busy(d *simDesk, names ...string) bool {
	for _, p := range w.s.procs {
		if p.node == d.id && !p.done && slices.Contains(names, p.name) {
			return true
		}
	}
	return false
}

// converged reports whether one console is active, the others follow it
// and all hold the same show, with no launch or log-off under way (a
// log-off that a pause held up goes on once the console runs again).
func (w *simWorld) converged() (bool, string) {
	var active string
	var digest [32]byte
	for _, d := range w.desks {
		if w.busy(d, "launch", "logoff") {
			return false, d.id + " is launching or logging off"
		}
	}
	for i, d := range w.desks {
		st := d.e.Status()
		switch {
		case st.Role == RoleActive && active == "":
			active = d.id
		case st.Role == RoleBackup && !st.Syncing:
		default:
			return false, fmt.Sprintf("%s is %s (syncing %v)", d.id, st.Role, st.Syncing)
		}
		_, dg, _, err := d.e.Dump(func(store.Object) error { return nil })
		if err != nil {
			return false, err.Error()
		}
		if i > 0 && dg != digest {
			return false, d.id + " has another digest"
		}
		digest = dg
	}
	for _, d := range w.desks {
		if st := d.e.Status(); st.Role == RoleBackup && st.Active != active {
			return false, fmt.Sprintf("%s follows %q, not %s", d.id, st.Active, active)
		}
	}
	return active != "", "no active"
}

// check is the strict check; it returns what failed.
func (w *simWorld) check() []string {
	var bad []string
	for _, d := range w.desks {
		live := map[string]string{}
		d.e.Dump(func(o store.Object) error { live[o.Key] = string(o.Value); return nil })
		missing := 0
		for _, k := range slices.Sorted(mapsKeys(w.acked)) {
			if live[k] != w.acked[k] {
				missing++
				if missing <= 5 {
					bad = append(bad, fmt.Sprintf("acknowledged %s=%q is not in %s's live show (%q)", k, w.acked[k], d.id, live[k]))
				}
			}
		}
		if missing > 5 {
			bad = append(bad, fmt.Sprintf("%d acknowledged edits are not in %s's live show", missing, d.id))
		}
		list, _ := d.st.Archives()
		for _, a := range list {
			err := d.st.ReadArchive(a.Name, func(o store.Object) error {
				if live[o.Key] != string(o.Value) {
					return fmt.Errorf("holds %s=%q, the live show %q", o.Key, o.Value, live[o.Key])
				}
				return nil
			})
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s's archive %s (%s): %v", d.id, a.Name, a.Why, err))
			}
		}
	}
	return bad
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// simResult is what one simulated schedule did.
type simResult struct {
	seed   uint64
	failed []string
	events string
}

// runSim runs one simulated schedule.
func runSim(t testing.TB, seed uint64) simResult { return runSimLooking(t, seed, false) }

// runSimLooking runs one simulated schedule; lookAlways has the scheduler
// look at every wait in every round (see simSched.step).
func runSimLooking(t testing.TB, seed uint64, lookAlways bool) simResult {
	r := rand.New(rand.NewPCG(seed, 1))
	n := 3 + r.IntN(3)
	var retain uint64
	if r.IntN(2) == 0 {
		retain = 16 // every split outlasts the edit log
	}
	w := newSimWorld(t, seed, n, retain)
	w.s.lookAlways = lookAlways
	defer w.close()
	w.note("schedule %d: %d consoles, log retain %d", seed, n, retain)
	res := simResult{seed: seed}
	fail := func(why string) simResult {
		res.failed = append(res.failed, why)
		res.events = w.events.String()
		return res
	}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(errSimBudget)
			if !ok {
				panic(r)
			}
			res = fail(fmt.Sprintf("still running after %s of real time, at t=%s (a livelock?)", simBudget, b.at))
		}
	}()
	// The show starts on one console and reaches the others.
	for i, d := range w.desks {
		w.launch(d, false)
		w.wait(time.Second)
		if i == 0 {
			w.edit(d)
		}
	}
	for i := 0; i < *simSteps; i++ {
		w.step()
	}
	w.note("heal")
	w.heal()
	limit := w.s.now.Add(2 * time.Minute)
	for {
		if ok, _ := w.converged(); ok {
			break
		}
		if w.s.now.After(limit) {
			_, why := w.converged()
			return fail("did not converge: " + why)
		}
		w.wait(100 * time.Millisecond)
		w.heal()
	}
	// Let what is under way settle (edits in flight, the last archives
	// checked) before looking.
	w.wait(time.Second)
	if bad := w.check(); len(bad) > 0 {
		return fail(strings.Join(bad, "\n"))
	}
	w.note("converged; every acknowledged edit (%d) in every live show", len(w.acked))
	res.events = w.events.String()
	return res
}

// TestSimulation runs the simulated schedules, several side by side (each
// is single-threaded), and reports each failing seed with its replay
// command.
func TestSimulation(t *testing.T) {
	n := *simSeeds
	if testing.Short() || raceEnabled {
		// make test runs them all once more without the race detector.
		n = min(n, 50)
	}
	// A run allocates much that lives briefly (Pebble opens a show many
	// times, copies read whole files) while the live heap stays small:
	// collecting a tenth as often takes about a quarter off the time, for
	// some 500 MB of memory; the limit keeps it from growing further.
	defer debug.SetGCPercent(debug.SetGCPercent(1000))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(2 << 30))
	start := time.Now()
	seeds := make(chan uint64)
	var mu sync.Mutex
	var failed []simResult
	var wg sync.WaitGroup
	for w := 0; w < 4*runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				if res := runSim(t, seed); len(res.failed) > 0 {
					mu.Lock()
					failed = append(failed, res)
					mu.Unlock()
				}
			}
		}()
	}
	for seed := *simFrom; seed < *simFrom+n; seed++ {
		seeds <- uint64(seed)
	}
	close(seeds)
	wg.Wait()
	slices.SortFunc(failed, func(a, b simResult) int { return int(a.seed) - int(b.seed) })
	for i, f := range failed {
		t.Errorf("simulated schedule %d failed: %s\n  replay: go test ./replication -run 'TestSimulation$' -sim.from=%d -sim.seeds=1 -sim.log",
			f.seed, strings.Join(f.failed, "\n  "), f.seed)
		if *simLog || i == 0 {
			t.Logf("event log of schedule %d:\n%s", f.seed, f.events)
		}
	}
	t.Logf("%d simulated schedules, %d failed, in %s", n, len(failed), time.Since(start).Round(time.Millisecond))
}

// TestSimulationIsDeterministic: one seed, run twice, gives the same event
// log byte for byte.
func TestSimulationIsDeterministic(t *testing.T) {
	for _, seed := range []uint64{3, 41} {
		sameEvents(t, seed, runSim(t, seed), runSim(t, seed))
	}
}

// TestSimSchedLooksOnlyWhenNeeded: the scheduler looks at a wait again only
// when something it could see has changed; a run is the same, byte for
// byte, as when it looks at every wait in every round.
func TestSimSchedLooksOnlyWhenNeeded(t *testing.T) {
	for _, seed := range []uint64{5, 17, 109} {
		sameEvents(t, seed, runSimLooking(t, seed, false), runSimLooking(t, seed, true))
	}
}

// sameEvents fails the test where two runs of seed differ.
func sameEvents(t *testing.T, seed uint64, a, b simResult) {
	t.Helper()
	if a.events != b.events {
		al, bl := strings.Split(a.events, "\n"), strings.Split(b.events, "\n")
		for i := range min(len(al), len(bl)) {
			if al[i] != bl[i] {
				t.Fatalf("seed %d: the event logs differ at line %d:\n  %s\n  %s", seed, i+1, al[i], bl[i])
			}
		}
		t.Fatalf("seed %d: the event logs differ in length: %d and %d lines", seed, len(al), len(bl))
	}
	if len(a.events) < 1000 {
		t.Fatalf("seed %d: an event log of %d bytes: the run did little", seed, len(a.events))
	}
}

// TestSimCopiesFromBackups: consoles that all need a whole copy at once (a
// blackout, every backup wiped) do not all take it from the active: past
// maxCopies, a joiner takes its copy from a backup that has one, or waits
// for one. Every console ends with the show.
func TestSimCopiesFromBackups(t *testing.T) {
	w := newSimWorld(t, 99, 6, 16) // the log keeps too little for a catch-up
	defer w.close()
	a := w.desks[0]
	w.launch(a, false)
	w.wait(time.Second)
	for i := 0; i < 1500; i++ { // past what the log keeps: each joiner needs a whole copy
		w.edit(a)
	}
	w.wait(5 * time.Second)
	for _, d := range w.desks[1:] {
		w.launch(d, false)
	}
	limit := w.s.now.Add(time.Minute)
	for ok, _ := w.converged(); !ok; ok, _ = w.converged() {
		if w.s.now.After(limit) {
			_, why := w.converged()
			t.Fatalf("did not converge: %s\n%s", why, w.events.String())
		}
		w.wait(100 * time.Millisecond)
	}
	if bad := w.check(); len(bad) > 0 {
		t.Fatalf("%s\n%s", strings.Join(bad, "\n"), w.events.String())
	}
	log := w.events.String()
	if !strings.Contains(log, "its copy comes from a backup") || !strings.Contains(log, "taking the show's copy from a backup") {
		t.Fatalf("no joiner took its copy from a backup:\n%s", log)
	}
	t.Logf("%d of 5 copies came from a backup", strings.Count(log, "taking the show's copy from a backup"))
}
