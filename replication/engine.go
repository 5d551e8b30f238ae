// Package replication is the engine that decides a console's role for a show
// and moves edits between the store and the other consoles of the show
// network. It knows nothing of buttons or LEDs: the firmware turns its
// Status into the front panel. README.md in this folder says which file
// owns what, where the role state machine is, and the lock order.
package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// Role is what this console is for its show.
type Role string

const (
	RoleOff     Role = "off"     // logged off
	RoleActive  Role = "active"  // orders edits for the show
	RoleBackup  Role = "backup"  // holds a replica, forwards edits to the active
	RoleSyncing Role = "syncing" // joining: receiving a copy, not yet a usable backup
)

// Errors the control API maps to exit codes and messages.
var (
	// ErrNotLoggedOn: an edit or read needs a launched show.
	ErrNotLoggedOn = errors.New("not logged on to a show (run: consolectl launch SHOW)")
	// ErrBadInput wraps validation failures: the caller's input was wrong.
	ErrBadInput = errors.New("bad input")
	// ErrRefused wraps refusals by a guard (stale copy, another show running).
	ErrRefused = errors.New("refused")
)

// Options configure an Engine.
type Options struct {
	// ID is this console's name on the show network. Required.
	ID string
	// Store holds the show copies. Required; the engine does not close it.
	Store *store.Store
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Clock defaults to the real clock.
	Clock clockwork.Clock
	// Transport reaches the other consoles. Default: TCP with TLS 1.3 from
	// Key.
	Transport Transport

	// Key is the show network's key: only consoles holding it can connect.
	Key wire.Key
	// Listen is the peer address to listen on; "" listens nowhere.
	Listen string
	// Peers are addresses to keep connections to.
	Peers []string
	// Discovery is the network interface to beacon and listen on for other
	// consoles (see DiscoveryGroup); "" turns discovery off.
	Discovery string
	// Master marks the designated master console (rule 5).
	Master bool
	// Ack is when an edit is acknowledged. Default AckOne.
	Ack AckMode
	// Heartbeat is how often a State goes to every peer. Default 100 ms.
	Heartbeat time.Duration
	// PeerTimeout: a peer silent this long is disconnected, and if it was
	// the active, replaced. Default 3 heartbeats.
	PeerTimeout time.Duration
	// TakeoverTimeout: a backup that lost its active takes over itself when
	// the successor it chose has not become active this long after, or
	// another backup still follows an active it cannot reach. Default 1 s.
	TakeoverTimeout time.Duration
	// MasterGrace is how long a launch that finds no active waits for the
	// show's master console (rule 5) to launch first; 0 does not wait.
	MasterGrace time.Duration
	// HandOverWait bounds how long a logging-off active waits for every
	// live backup to confirm its last edits, once one holds them all.
	// Default 500 ms.
	HandOverWait time.Duration
	// HandOverLimit bounds how long a logging-off active waits for any
	// backup to hold every edit it acknowledged, a backup still taking a
	// copy included (handover.go). Default 30 s.
	HandOverLimit time.Duration
	// FailoverWait is how long an edit made while the show has no reachable
	// active waits for one (a failover in progress) before it fails.
	// Default 5 s.
	FailoverWait time.Duration
	// AckTimeout: a backup that has not confirmed an edit this long stops
	// counting for acknowledgements until it catches up. Default 2 s.
	AckTimeout time.Duration
	// JoinWait bounds how long a launch waits to hear from the configured
	// peers before deciding it is alone. Default 1 s.
	JoinWait time.Duration
	// ProtocolVersion is spoken in the handshake. Default
	// wire.ProtocolVersion; tests set others.
	ProtocolVersion uint16
	// Control takes the connections of control clients (consolectl
	// --remote): those on the peer port that hold the network key and
	// negotiated wire.ControlProto. It is called once their TLS handshake
	// is done, from the connection's goroutine, and owns the connection;
	// it must not block for long. Without it they are closed.
	Control func(net.Conn)

	// Test seams, set by this package's tests only: how the engine runs
	// its goroutines and waits (the simulation's scheduler; default
	// goroutines and Clock), where its random numbers come from (default
	// crypto/rand), and how long a full copy's sender waits before it ends
	// the copy (so that tests can act while one is under way).
	sched     sched
	rand      io.Reader
	copyDelay time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.sched == nil {
		o.sched = realSched{o.Clock}
	}
	if o.rand == nil {
		o.rand = rand.Reader
	}
	if o.Ack == "" {
		o.Ack = AckOne
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 100 * time.Millisecond
	}
	if o.PeerTimeout <= 0 {
		o.PeerTimeout = 3 * o.Heartbeat
	}
	if o.TakeoverTimeout <= 0 {
		o.TakeoverTimeout = time.Second
	}
	if o.HandOverWait <= 0 {
		o.HandOverWait = 500 * time.Millisecond
	}
	if o.HandOverLimit <= 0 {
		o.HandOverLimit = 30 * time.Second
	}
	if o.FailoverWait <= 0 {
		o.FailoverWait = 5 * time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 2 * time.Second
	}
	if o.JoinWait <= 0 {
		o.JoinWait = time.Second
	}
	if o.ProtocolVersion == 0 {
		o.ProtocolVersion = wire.ProtocolVersion
	}
}

// Engine is one console's replication engine. Its methods are safe for
// concurrent use.
//
// Lock order (README.md): launchMu, then mu, then pipeMu and a pipeline's
// own; presMu, then network.mu, then a peer's mu; ackSet.mu, bcastMu and the
// rest are leaves. mu is never held across a wait or while the disk is
// read or written.
type Engine struct {
	opts  Options
	id    string
	st    *store.Store
	log   *slog.Logger
	sched sched // goroutines and waits (sched.go)

	// launchMu serialises launch and log-off; it is held while they wait.
	launchMu waitMutex

	// mu guards the role and the open show. Edits hold it shared while they
	// commit, so a log-off waits for edits in flight instead of closing the
	// show under them.
	mu    sync.RWMutex
	role  Role
	show  *store.Show
	epoch string // the epoch this console began as active, whose edits it orders
	// switched is closed once a copy being switched in is (takeSnapshot);
	// nil when none is. readers counts the reads of show under way outside
	// e.mu (reading).
	switched      chan struct{}
	readers       group
	session       context.Context // ends at log-off
	endSession    context.CancelFunc
	following     *peer // the active this backup applies
	followRunning bool
	syncing       bool
	orphanSince   time.Time // when this backup last lost its active; zero while it has one
	handingOver   bool      // the active is logging off: it takes no new edits
	handOverState *HandOver // what the hand-over waits for, while it waits
	steppedFor    string    // the active this console stepped down for, until it joined it (failover.go)
	stale         bool      // the last launch was refused: the copy may be outdated
	waitingFor    string    // a launch waits for this master console
	merges        []Merge   // divergence merges not yet acknowledged

	// presMu guards pres, the presence record last written for presShow
	// (see guard.go).
	presMu   sync.Mutex
	pres     store.Presence
	presShow string

	linkUp     atomic.Bool
	lastState  atomic.Pointer[wire.State]   // the last heartbeat built
	stateCache atomic.Pointer[encodedState] // the last heartbeat encoded (stateFrame)

	net   network
	acks  ackSet
	stats struct {
		fullSyncs, catchUps, adoptions atomic.Uint64
	}
	incoming copyProgress // the full copy arriving here (copyprogress.go)
	guard    guardState   // what was refused from the network (refusals.go)

	// pipe orders the active's edits (see pipeline); one per show launched
	// as active, made by its first edit.
	pipeMu sync.Mutex
	pipe   *pipeline

	// serving counts the goroutines serving joins (active.go); copies the
	// full copies this active sends; copyTurn picks the backup the next
	// joiner takes its copy from (copySource).
	serving  atomic.Int64
	copies   atomic.Int64
	copyTurn atomic.Int64

	bcastMu   sync.Mutex
	seqCh     chan struct{} // closed when the show's seq moves
	roleCh    chan struct{} // closed when role or show changes
	anyCh     chan struct{} // closed at every notify: roles, peers, link
	linkCh    chan struct{} // closed when the link changes
	changed   chan struct{} // coalesced notifications for the firmware
	kickCh    chan struct{}
	netCtx    context.Context
	netCancel context.CancelFunc
	started   bool
	closing   chan struct{} // closed by Close: timers stop waiting
	closeOnce sync.Once
	// taking is held (a value in it) while another console's edits or
	// changes are taken into the show: one adoption or merge at a time.
	taking chan struct{}
}

// New returns an engine that is logged off. Start connects it to the network.
func New(opts Options) (*Engine, error) {
	if opts.ID == "" {
		return nil, fmt.Errorf("replication: console ID is empty")
	}
	if opts.Store == nil {
		return nil, fmt.Errorf("replication: no store")
	}
	opts.defaults()
	e := &Engine{
		opts:     opts,
		id:       opts.ID,
		st:       opts.Store,
		log:      opts.Logger.With("console", opts.ID),
		sched:    opts.sched,
		role:     RoleOff,
		seqCh:    make(chan struct{}),
		roleCh:   make(chan struct{}),
		anyCh:    make(chan struct{}),
		linkCh:   make(chan struct{}),
		changed:  make(chan struct{}, 1),
		kickCh:   make(chan struct{}, 1),
		closing:  make(chan struct{}),
		taking:   make(chan struct{}, 1),
		launchMu: newWaitMutex(),
	}
	e.linkUp.Store(true)
	e.acks.links = map[string]*backupLink{}
	e.acks.joining = map[*peer]bool{}
	e.acks.mode = opts.Ack
	e.acks.progress = make(chan struct{})
	e.acks.log, e.acks.now, e.acks.timeout = e.log, e.sched.Now, opts.AckTimeout
	e.acks.afterFunc, e.acks.errStopped = e.afterFunc, e.errUnconfirmed
	e.session, e.endSession = context.WithCancel(context.Background())
	e.endSession()
	return e, nil
}

// Start listens for peers, dials the configured ones and runs the engine's
// housekeeping until Close.
func (e *Engine) Start() error {
	// Copies being sent when the console last stopped hold hard links to
	// sstables, and so disk space: no send survives a restart.
	if err := os.RemoveAll(filepath.Join(e.st.Dir(), snapshotsDir)); err != nil {
		return fmt.Errorf("replication: remove unfinished outgoing copies: %w", err)
	}
	e.netCtx, e.netCancel = context.WithCancel(context.Background())
	if err := e.startNetwork(e.netCtx); err != nil {
		e.netCancel()
		return err
	}
	if e.opts.Discovery != "" {
		if err := e.startDiscovery(e.netCtx, e.opts.Discovery); err != nil {
			e.netCancel()
			return err
		}
	}
	e.started = true
	e.sched.Go(&e.net.wg, func() { e.reconcileLoop(e.netCtx) })
	return nil
}

// Changed receives a value after any change of Status, coalesced: a reader
// that falls behind sees one notification for many changes, then reads Status.
func (e *Engine) Changed() <-chan struct{} { return e.changed }

func (e *Engine) notify() {
	e.bcastMu.Lock()
	close(e.anyCh)
	e.anyCh = make(chan struct{})
	e.bcastMu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *Engine) anyChange() <-chan struct{} {
	e.bcastMu.Lock()
	defer e.bcastMu.Unlock()
	return e.anyCh
}

func (e *Engine) seqChanged() <-chan struct{} {
	e.bcastMu.Lock()
	defer e.bcastMu.Unlock()
	return e.seqCh
}

func (e *Engine) stateChanged() <-chan struct{} {
	e.bcastMu.Lock()
	defer e.bcastMu.Unlock()
	return e.roleCh
}

// bumpSeq wakes the streams and forwarders after the show's seq moved. It
// does not notify the firmware: the panel shows no seq, and a status read
// per batch of edits costs more than the edits.
func (e *Engine) bumpSeq() {
	e.bcastMu.Lock()
	close(e.seqCh)
	e.seqCh = make(chan struct{})
	e.bcastMu.Unlock()
}

// roleChanged tells peers (through an immediate heartbeat) and the firmware.
func (e *Engine) roleChanged() {
	e.bcastMu.Lock()
	close(e.roleCh)
	e.roleCh = make(chan struct{})
	e.bcastMu.Unlock()
	e.notify()
	e.kick()
}

func (e *Engine) kick() {
	select {
	case e.kickCh <- struct{}{}:
	default:
	}
}

func (e *Engine) setSyncing(on bool) {
	e.mu.Lock()
	changed := e.syncing != on
	e.syncing = on
	e.mu.Unlock()
	if changed {
		e.notify()
	}
}

// newEpochID mints an epoch ID: random, so two consoles that become active
// independently never share one.
func (e *Engine) newEpochID() string {
	var b [8]byte
	if _, err := io.ReadFull(e.opts.rand, b[:]); err != nil {
		panic(err) // crypto/rand never fails (its docs); the simulation's source neither
	}
	return hex.EncodeToString(b[:])
}

// Launch logs on to show: as a backup when a connected console is active for
// it, else as the active server with a new epoch, creating the show if it
// does not exist. force overrides the stale-launch guard.
func (e *Engine) Launch(ctx context.Context, show string, force bool) error {
	if err := store.ValidateShowName(show); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	// reconcile skips its turn while a launch holds launchMu (failover.go):
	// run it once this one is done.
	defer e.kick()
	if !e.launchMu.lock(e.sched, ctx.Done()) {
		return ctx.Err()
	}
	defer e.launchMu.unlock()
	e.mu.RLock()
	role, cur := e.role, e.show
	e.mu.RUnlock()
	if role != RoleOff {
		if cur != nil && cur.Name() == show {
			return nil // already logged on: launching again is a no-op, as on the desk
		}
		return fmt.Errorf("%w: logged on to show %q; log off first", ErrRefused, cur.Name())
	}
	e.waitForPeers(ctx)
	if err := e.checkDuplicate(show); err != nil {
		return err
	}
	var sh *store.Show
	for attempt := 1; ; attempt++ {
		p := e.activeFor(show)
		if p == nil && !force && attempt == 1 {
			e.waitForMaster(ctx, show)
			p = e.activeFor(show)
		}
		// Before launching as active, hear every console afresh: one that
		// launched a moment ago may not have said so yet. Creating the show
		// next to its copy makes two different shows, and when they meet
		// one goes to an archive, acknowledged edits and all. When others
		// are on the show with no active in sight (one has just taken over
		// and its State is on its way, or they are choosing one: the active
		// left a moment ago), wait for their active and join it: launching
		// now would make a second one.
		if p == nil {
			p = e.hearAfresh(ctx, show)
		}
		if p == nil && len(e.onShowWith(show)) > 0 {
			e.waitForActive(ctx, show, e.opts.JoinWait)
			p = e.activeFor(show)
		}
		if err := e.knownDamage(show, p != nil); err != nil { // damaged.go
			return err
		}
		if p == nil {
			if err := e.checkStale(ctx, show); err != nil {
				if !force {
					return err
				}
				e.log.Warn("forced launch of a copy that may be outdated", "show", show, "guard", err)
			}
			p = e.activeFor(show) // the guard may have waited for another console to launch (together.go)
		}
		var err error
		if p == nil {
			sh, err = e.st.OpenShow(show, true)
		} else {
			// Joining: with no copy here, an empty one on disk would only be
			// replaced (store/placeholder.go).
			sh, err = e.st.OpenPlaceholder(show)
		}
		sh, err = e.checkOpened(show, p != nil, sh, err) // a damaged copy (damaged.go)
		if err != nil {
			return fmt.Errorf("replication: launch %s: %w", show, err)
		}
		if p == nil {
			break
		}
		err = e.join(ctx, sh, p)
		if err == nil {
			e.setStale(false)
			// Record at once who is on the show, the master console
			// included: it may log off before reconcile would have.
			e.updatePresence(sh)
			e.recordSession(show)
			return nil
		}
		// The connection can be replaced under a join (two consoles that
		// dialled each other keep one of the two, which at start-up can
		// take a few rounds on a bigger network), or the active can go and
		// a backup take over: look again, a few times. A refused join is
		// one of these: the console seen as active no longer was when the
		// join reached it.
		if attempt == 5 || ctx.Err() != nil {
			return err
		}
		e.log.Warn("join failed; looking for the active again", "show", show, "err", err)
		sleep(e.sched, time.Duration(attempt)*50*time.Millisecond, ctx.Done())
		e.waitForActive(ctx, show, e.opts.JoinWait)
	}
	epoch := e.newEpochID()
	lin, err := sh.StartEpoch(epoch)
	if err != nil {
		sh.Close()
		return fmt.Errorf("replication: launch %s: %w", show, err)
	}
	e.mu.Lock()
	e.show, e.epoch = sh, epoch
	e.become(RoleActive, "launched with no active on the network")
	e.session, e.endSession = context.WithCancel(context.Background())
	e.mu.Unlock()
	e.acks.startAcks()
	e.setStale(false)
	e.updatePresence(sh)
	e.recordSession(show)
	e.log.Info("launched show as active", "show", show, "epoch", epoch, "seq", lin.Seq)
	e.roleChanged()
	return nil
}

// recordSession notes on disk that this console is logged on to show, for
// a start after a power cut or a crash (consoled --resume). A graceful
// log-off clears it.
func (e *Engine) recordSession(show string) {
	if err := e.st.SetLoggedOn(store.Session{Show: show, Since: e.sched.Now().UTC()}); err != nil {
		e.log.Error("cannot record the session for --resume", "show", show, "err", err)
	}
}

// join logs on as a backup of p and waits until the copy is complete.
func (e *Engine) join(ctx context.Context, sh *store.Show, p *peer) error {
	e.mu.Lock()
	e.show = sh
	e.become(RoleSyncing, "joining "+p.id)
	e.session, e.endSession = context.WithCancel(context.Background())
	session := e.session
	e.followRunning = true
	e.mu.Unlock()
	e.log.Info("joining show as backup", "show", sh.Name(), "active", p.id, "seq", sh.Lineage().Seq)
	e.roleChanged()
	done := make(chan error, 1)
	exited := make(chan struct{})
	e.sched.Go(&e.net.wg, func() {
		defer close(exited)
		e.runFollow(session, p, sh.Name(), func(err error) { done <- err })
	})
	err, _, i := recv(e.sched, done, time.Time{}, ctx.Done())
	if i == 1 {
		if err == nil {
			return nil
		}
		err = fmt.Errorf("replication: join %s via %s: %w", sh.Name(), p.id, err)
	} else {
		err = ctx.Err()
	}
	e.abandonJoin()
	e.sched.Wait(time.Time{}, exited) // a later join must not race this one's end
	return err
}

// abandonJoin logs off a show whose join failed. The copy is as it was (or
// the complete new one, if the transfer finished), and so is its presence
// record: this console never was on the show.
func (e *Engine) abandonJoin() {
	e.mu.Lock()
	sh := e.goOffLocked()
	e.mu.Unlock()
	e.announceOff()
	if sh != nil {
		if err := sh.Close(); err != nil {
			e.log.Warn("closing the show after a failed join", "show", sh.Name(), "err", err)
		}
	}
}

// goOffLocked ends the session and the role, and returns the show that was
// open. e.mu is held.
func (e *Engine) goOffLocked() *store.Show {
	e.endSession()
	sh := e.show
	e.show = nil
	e.become(RoleOff, "logged off")
	e.following = nil
	e.syncing = false
	e.handingOver = false
	e.orphanSince = time.Time{}
	e.steppedFor = ""
	return sh
}

// announceOff tells the peers this console left the show.
func (e *Engine) announceOff() {
	for _, p := range e.connected() {
		p.conn.Send(&wire.Leaving{})
	}
	e.roleChanged()
}

// waitForActive waits up to d until a peer is active for show.
func (e *Engine) waitForActive(ctx context.Context, show string, d time.Duration) {
	deadline := after(e.sched, d)
	for {
		wake := e.anyChange()
		if e.activeFor(show) != nil {
			return
		}
		if e.sched.Wait(deadline, wake, ctx.Done()) != 0 {
			return
		}
	}
}

// runFollow follows p until that ends, then looks for the active again.
func (e *Engine) runFollow(session context.Context, p *peer, show string, joined func(error)) {
	err := e.follow(session, p, show, joined)
	if session.Err() == nil {
		level := slog.LevelWarn
		if errors.Is(err, errServingEnded) {
			level = slog.LevelInfo
		}
		e.log.Log(session, level, "stopped following the active", "active", p.id, "err", err)
	}
	e.mu.Lock()
	e.followRunning = false
	if e.role == RoleBackup || e.role == RoleSyncing {
		e.orphanSince = e.sched.Now()
	}
	e.mu.Unlock()
	// Tell the peers at once (Following is now empty): the backups that lost
	// the same active choose the successor from these States.
	e.roleChanged()
}

// hearAfresh waits until every console this one is connected to, or was
// a moment ago, has sent a State since the call, and returns the active for
// show among them, if any. States go out at once on a change, but one read
// just before the change and sent after it says nothing of it; and two
// consoles that dialled each other drop one of the two connections, so for
// a while one of them has none (see reconnecting). The wait is bounded by
// PeerTimeout: a console silent that long is disconnected anyway. On a busy
// machine this all takes more than a heartbeat, and a launch that gave up
// sooner created a second show next to one launched a moment before; when
// they met, one went to an archive, acknowledged edits and all.
func (e *Engine) hearAfresh(ctx context.Context, show string) *peer {
	if !e.started {
		return nil
	}
	start := e.sched.Now()
	deadline := start.Add(e.opts.PeerTimeout)
	for {
		if p := e.activeFor(show); p != nil {
			return p
		}
		silent := e.reconnecting(start.Add(-e.opts.PeerTimeout))
		for _, p := range e.connected() {
			p.mu.Lock()
			if p.stateAt.Before(start) {
				silent = append(silent, p.id)
			}
			p.mu.Unlock()
		}
		if len(silent) == 0 {
			return nil
		}
		switch e.sched.Wait(earlier(deadline, after(e.sched, 5*time.Millisecond)), ctx.Done()) {
		case 0:
			return nil
		case -1:
			if e.sched.Now().Before(deadline) {
				continue
			}
			p := e.activeFor(show)
			if p == nil {
				e.log.Warn("launching without a fresh word from every console", "show", show, "silent", silent, "waited", e.opts.PeerTimeout)
			}
			return p
		}
	}
}

// waitForPeers gives the configured peers up to JoinWait to connect and say
// what they are, so a launch does not miss an active that is right there.
func (e *Engine) waitForPeers(ctx context.Context) {
	if !e.started {
		return
	}
	deadline := after(e.sched, e.opts.JoinWait)
	for e.sched.Now().Before(deadline) && ctx.Err() == nil {
		ready := true
		for _, a := range e.opts.Peers {
			e.net.mu.Lock()
			tried := e.net.tried[a]
			e.net.mu.Unlock()
			if !tried {
				ready = false
			}
		}
		for _, p := range e.connected() {
			p.mu.Lock()
			if p.stateAt.IsZero() {
				ready = false
			}
			p.mu.Unlock()
		}
		e.net.mu.Lock()
		if from := e.net.discoveryFrom; !from.IsZero() && e.sched.Now().Sub(from) < 2*BeaconInterval {
			ready = false // not every console has beaconed yet
		}
		e.net.mu.Unlock()
		if ready {
			return
		}
		sleep(e.sched, 10*time.Millisecond, ctx.Done())
	}
}

// reconcileLoop runs reconcile (failover.go) at every change, and every
// heartbeat for what no change announces.
// It also watches for pauses: it runs at least every heartbeat, so a longer
// gap between two turns means the process did not run (see notePause).
func (e *Engine) reconcileLoop(ctx context.Context) {
	last := e.sched.Now()
	next := last.Add(e.opts.Heartbeat)
	for {
		if e.sched.Wait(next, ctx.Done(), e.kickCh) == 0 {
			return
		}
		now := e.sched.Now()
		if !now.Before(next) {
			next = now.Add(e.opts.Heartbeat)
		}
		e.notePause(now.Sub(last))
		last = now
		e.checkFence()
		e.reconcile()
	}
}

// Logoff logs off the show gracefully. Edits in flight finish first.
func (e *Engine) Logoff(ctx context.Context) error {
	if !e.launchMu.lock(e.sched, ctx.Done()) {
		return ctx.Err()
	}
	defer e.launchMu.unlock()
	return e.logoffLocked(ctx)
}

func (e *Engine) logoffLocked(ctx context.Context) error {
	e.mu.Lock()
	if e.role == RoleOff {
		e.mu.Unlock()
		return nil
	}
	sh, wasActive := e.show, e.role == RoleActive
	e.handingOver = wasActive
	e.mu.Unlock()
	var unshared uint64
	if wasActive {
		unshared = e.handOver(ctx, sh)
	}
	e.mu.Lock()
	name, lin := sh.Name(), sh.Lineage()
	e.goOffLocked()
	e.mu.Unlock()
	// Leaving before closing the store: the successor need not wait for it.
	e.announceOff()
	if e.recordLeaving(name, unshared) {
		// Rule 5's clean-up, by the last server out.
		if cerr := sh.Compact(); cerr != nil {
			e.log.Warn("compacting the master copy", "show", name, "err", cerr)
		}
	}
	if serr := e.st.SetLoggedOn(store.Session{}); serr != nil {
		e.log.Error("cannot record the log-off for --resume", "err", serr)
	}
	err := sh.Close()
	e.log.Info("logged off", "show", name, "seq", lin.Seq)
	if err != nil {
		return fmt.Errorf("replication: log off %s: %w", name, err)
	}
	return nil
}

// ValidateOp checks an edit before it is ordered. Values are text (show
// objects are JSON on the desks), so they must be valid UTF-8.
func ValidateOp(op store.Op) error {
	if err := store.ValidateKey(op.Key); err != nil {
		return err
	}
	if op.Delete {
		return nil
	}
	if err := store.ValidateValue(op.Value); err != nil {
		return err
	}
	if !utf8.Valid(op.Value) {
		return fmt.Errorf("value of %q is not valid UTF-8 text", op.Key)
	}
	return nil
}

// Submit records edits from this console's operator and returns once they
// are acknowledged (see AckMode), with the seq of the last one. On a backup
// the edits go to the active.
func (e *Engine) Submit(ctx context.Context, ops []store.Op) (uint64, error) {
	if len(ops) == 0 {
		return 0, fmt.Errorf("%w: no edits", ErrBadInput)
	}
	for _, op := range ops {
		if err := ValidateOp(op); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrBadInput, err)
		}
	}
	// An edit made while the active goes waits for its successor: the
	// operator keeps working through a failover. An edit whose outcome is
	// unknown (it left, and the answer did not come back) is made again
	// until one answer is definite: setting or deleting twice is harmless.
	// If none is, the outcome stays unknown: it is never reported as not
	// made, since it may be in the show.
	e.mu.RLock()
	var show string
	if e.show != nil {
		show = e.show.Name()
	}
	e.mu.RUnlock()
	deadline := after(e.sched, e.opts.FailoverWait)
	var unknown error
	for {
		wake := e.anyChange()
		seq, err := e.submitOnce(ctx, ops, show)
		if err == nil {
			return seq, nil
		}
		if errors.Is(err, ErrOutcomeUnknown) {
			unknown = err
		}
		again := errors.Is(err, ErrNoActive) || errors.Is(err, ErrOutcomeUnknown)
		if !again || !e.sched.Now().Before(deadline) {
			if unknown != nil && (again || errors.Is(err, ErrNotLoggedOn) || ctx.Err() != nil) {
				return 0, fmt.Errorf("%w: %w (last try: %v)", ErrOutcomeUnknown, unknown, err)
			}
			return seq, err
		}
		if e.sched.Wait(after(e.sched, 20*time.Millisecond), wake, ctx.Done()) == 1 {
			if unknown != nil {
				return 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, unknown)
			}
			return 0, err
		}
	}
}

// submitOnce makes one try at an edit of show: ordered here when this
// console is its active, else forwarded to the active.
func (e *Engine) submitOnce(ctx context.Context, ops []store.Op, show string) (uint64, error) {
	e.mu.RLock()
	role, p := e.role, e.following
	same := e.show != nil && e.show.Name() == show
	e.mu.RUnlock()
	if !same {
		return 0, ErrNotLoggedOn
	}
	switch role {
	case RoleActive:
		return e.submitActive(ctx, ops)
	case RoleBackup, RoleSyncing:
		if p == nil || !p.alive() || !p.servesShow(show) {
			p = e.activeFor(show)
		}
		if p == nil {
			return 0, fmt.Errorf("%w %q", ErrNoActive, show)
		}
		return e.forward(ctx, p, ops)
	}
	return 0, ErrNotLoggedOn
}

// submitActive orders edits on the active: it commits them in the next
// batch (see pipeline) and returns once they are durable here and confirmed
// by the backups as the ack mode asks.
func (e *Engine) submitActive(ctx context.Context, ops []store.Op) (uint64, error) {
	if len(ops) == 0 {
		return 0, fmt.Errorf("%w: no edits", ErrBadInput) // a commit of none has no seq to answer with
	}
	for _, op := range ops {
		if err := ValidateOp(op); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrBadInput, err)
		}
	}
	e.mu.RLock()
	if e.role != RoleActive || e.show == nil || e.handingOver {
		e.mu.RUnlock()
		return 0, e.errNotActive()
	}
	pl := e.pipelineLocked()
	e.mu.RUnlock()
	s := &submission{ops: ops, done: make(chan struct{})}
	if !pl.submit(s) {
		return 0, e.errNotActive()
	}
	if e.sched.Wait(time.Time{}, s.done, ctx.Done()) == 1 {
		return 0, fmt.Errorf("%w: gave up waiting for the edit to be confirmed: %w", ErrOutcomeUnknown, ctx.Err())
	}
	if s.err != nil {
		return 0, s.err
	}
	return s.seq, nil
}

func (e *Engine) errNotActive() error {
	return fmt.Errorf("%w: %s is no longer active", ErrNoActive, e.id)
}

// errUnconfirmed fails an edit that is durable here but was not confirmed
// by a backup as the ack mode asks when this console stopped being active:
// it is in this copy, which merges it back into the show when it meets the
// new active, but whether the show has it now is not known here.
func (e *Engine) errUnconfirmed() error {
	return fmt.Errorf("%w: %s stopped being active before a backup confirmed the edit", ErrOutcomeUnknown, e.id)
}

// Get reads one object of this console's copy.
func (e *Engine) Get(key string) ([]byte, bool, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	sh, done, err := e.reading()
	if err != nil {
		return nil, false, err
	}
	defer done()
	return sh.Get(key)
}

// reading returns the open show for a read done outside e.mu, and done to
// call after it. A copy being switched in (takeSnapshot) waits for the
// reads under way, and new ones wait for it.
func (e *Engine) reading() (*store.Show, func(), error) {
	for {
		e.mu.RLock()
		switched := e.switched
		if switched == nil {
			break
		}
		e.mu.RUnlock()
		e.sched.Wait(time.Time{}, switched)
	}
	defer e.mu.RUnlock()
	if e.role == RoleOff || e.show == nil {
		return nil, nil, ErrNotLoggedOn
	}
	e.readers.add()
	return e.show, e.readers.done, nil
}

// Dump streams every object of this console's copy in key order and returns
// the show's name, digest and the seq the dump is at.
func (e *Engine) Dump(fn func(store.Object) error) (show string, digest [32]byte, seq uint64, err error) {
	sh, done, err := e.reading()
	if err != nil {
		return "", digest, 0, err
	}
	defer done()
	digest, seq, err = sh.Dump(fn)
	return sh.Name(), digest, seq, err
}

// Peer is another console as this one sees it.
type Peer struct {
	Console   string `json:"console"`
	Role      Role   `json:"role"`
	Show      string `json:"show"`
	Seq       uint64 `json:"seq"`
	Connected bool   `json:"connected"`
	// Address is where it takes connections, as this console reached it
	// last ("" when it cannot tell).
	Address string `json:"address"`
}

// Status is a snapshot of the engine's state.
type Status struct {
	Console        string
	Role           Role
	Show           string
	ShowID         string
	Epoch          string
	Epochs         []store.Epoch
	Seq            uint64
	Stale          bool
	Syncing        bool
	LinkUp         bool
	Peers          []Peer
	Active         string // the active this backup follows
	Listen         string
	KeyFingerprint string
	AuthRefused    int
	FullSyncs      uint64  // copies sent whole to joining backups
	CatchUps       uint64  // backups brought up to date with missed edits only
	Adoptions      uint64  // joiners whose newer edits this active took
	Merges         []Merge // divergence merges not yet acknowledged
	WaitingFor     string  // a launch waits for this master console to launch first
	ProtocolFaults []string
	// Fence says why edits are acknowledged only once a backup holds them
	// (fence.go); "" when durable here is enough with no live backup.
	Fence string
	// HandOver is the log-off under way, waiting for a backup to hold
	// every acknowledged edit; nil when none waits.
	HandOver *HandOver
	// Copy is the full copy arriving on this console; nil when none does.
	Copy        *CopyProgress
	GuardStatus // what was refused from the network (refusals.go)
}

// Status returns a snapshot.
func (e *Engine) Status() Status {
	s := Status{
		Console:        e.id,
		LinkUp:         e.linkUp.Load(),
		Listen:         e.ListenAddr(),
		KeyFingerprint: e.opts.Key.Fingerprint(),
		FullSyncs:      e.stats.fullSyncs.Load(),
		CatchUps:       e.stats.catchUps.Load(),
		Adoptions:      e.stats.adoptions.Load(),
		GuardStatus:    e.guardStatus(),
		Copy:           e.incoming.get(),
	}
	if e.started {
		s.Peers = e.peerList()
		s.ProtocolFaults = e.protocolFaults()
		e.net.mu.Lock()
		s.AuthRefused = e.net.refused
		e.net.mu.Unlock()
	} else {
		s.Peers = []Peer{}
	}
	s.Fence = e.acks.fenceFor()
	e.mu.RLock()
	defer e.mu.RUnlock()
	s.Role = e.role
	s.Stale = e.stale
	if h := e.handOverState; h != nil {
		c := *h
		s.HandOver = &c
	}
	s.WaitingFor = e.waitingFor
	s.Merges = slices.Clone(e.merges)
	s.Syncing = e.syncing || e.role == RoleSyncing
	if e.following != nil {
		s.Active = e.following.id
	}
	if e.show != nil {
		lin := e.show.Lineage()
		s.Show = e.show.Name()
		s.ShowID = lin.ShowID
		s.Epochs = lin.Epochs
		s.Seq = lin.Seq
		if n := len(lin.Epochs); n > 0 {
			s.Epoch = lin.Epochs[n-1].ID
		}
	}
	return s
}

// Close logs off and leaves the network.
func (e *Engine) Close() error {
	err := e.Logoff(context.Background())
	e.closeOnce.Do(func() { close(e.closing) })
	if e.netCancel != nil {
		e.netCancel()
		if e.net.ln != nil {
			e.net.ln.Close()
		}
		for _, p := range e.connected() {
			p.conn.Close()
		}
		e.netCancel = nil
	}
	// Every goroutine of the engine ends: the network's with the network,
	// timers with closing, the rest with the session Logoff ended.
	e.net.wg.wait(e.sched)
	return err
}
