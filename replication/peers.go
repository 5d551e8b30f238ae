package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// peer is one authenticated connection to another console. Every console
// keeps one to each console it knows; both ends send their State as a
// heartbeat, and the show's traffic (joins, edits, acks, forwarded edits)
// runs over the same connection.
type peer struct {
	e      *Engine
	id     string
	conn   *wire.Conn
	dialed bool   // this console opened the connection
	addr   string // where it was dialed, or where it came from
	// listen is where that console takes connections, as this one would
	// dial it ("" when it cannot tell).
	listen string
	done   chan struct{}

	mu      sync.Mutex
	state   wire.State
	stateAt time.Time // when the last State (or Leaving) arrived; zero before the first
	seen    time.Time
	changed chan struct{} // closed when state changes what the engine decides on

	// inbox takes the messages of a join (JoinReply, Edits, Snap*) for the
	// one exchange that reads them (a follow, an adoption or merge, taking a
	// copy); the reader blocks on it, which is the flow control. With no
	// exchange under way they are left over from an ended one, and dropped:
	// they must neither pass for the answer to a later request nor stop the
	// reader.
	inbox    chan wire.Msg
	exchange atomic.Uint64 // the exchange under way, 0 for none
	lastExch atomic.Uint64
	merging  atomic.Bool // the exchange is a merge: Edits carry changes, not ordered edits (merge.go)

	fwdMu sync.Mutex
	fwd   map[uint64]chan *wire.ForwardReply

	serveMu     sync.Mutex
	cancelServe context.CancelFunc // the active's service of this peer's join

	guard peerGuard // what the checks keep (validate.go)
}

func (p *peer) State() wire.State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// stateChanged is closed at the next change of the peer's role, show,
// epoch or following (not at every seq).
func (p *peer) stateChanged() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// setState records a State or a Leaving and reports whether it changed
// anything the engine decides on.
func (p *peer) setState(st wire.State) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.state
	changed := p.stateAt.IsZero() || old.Role != st.Role || old.Show != st.Show || old.Leaving != st.Leaving ||
		old.Following != st.Following || lastEpoch(old.Epochs) != lastEpoch(st.Epochs)
	p.state = st
	p.stateAt = p.e.sched.Now()
	if changed {
		close(p.changed)
		p.changed = make(chan struct{})
	}
	return changed
}

// servesShow reports whether the peer says it is the active for show.
func (p *peer) servesShow(show string) bool {
	st := p.State()
	return st.Role == string(RoleActive) && st.Show == show && !st.Leaving
}

func lastEpoch(eps []wire.Epoch) string {
	if len(eps) == 0 {
		return ""
	}
	return eps[len(eps)-1].ID
}

// expectReplies starts an exchange that reads p.inbox, dropping what an
// earlier one left there; the returned func ends it, unless a newer one
// has started since (an exchange that outlives its turn must not end the
// next one).
func (p *peer) expectReplies() (end func()) {
	p.drainInbox()
	id := p.lastExch.Add(1)
	p.exchange.Store(id)
	return func() {
		if p.exchange.CompareAndSwap(id, 0) {
			p.drainInbox()
		}
	}
}

// receive returns the exchange's next message from p.
func (p *peer) receive(ctx context.Context) (wire.Msg, error) {
	return p.receiveBy(ctx, time.Time{})
}

// errStalled: the other side of an exchange, though still connected,
// sent nothing of it before the deadline.
var errStalled = errors.New("stalled")

// receiveBy is receive with a deadline (zero: none) on the engine's clock.
func (p *peer) receiveBy(ctx context.Context, deadline time.Time) (wire.Msg, error) {
	m, ok, i := recv(p.e.sched, p.inbox, deadline, p.done, ctx.Done())
	switch {
	case i == 0:
		return nil, fmt.Errorf("connection to %s lost", p.id)
	case i == 1:
		return nil, ctx.Err()
	case !ok:
		return nil, fmt.Errorf("%s %w: nothing of the exchange came by the deadline", p.id, errStalled)
	}
	return m, nil
}

func (p *peer) drainInbox() {
	for {
		select {
		case m := <-p.inbox:
			releaseMsg(m)
		default:
			return
		}
	}
}

// errServingEnded: the console serving this one stopped on purpose (it
// logged off or stepped down). Routine, not a fault.
var errServingEnded = errors.New("stopped serving the show")

// unexpected is the error for m, which came where what format describes
// was expected. A peer that ended the exchange on purpose is errServingEnded.
func unexpected(m wire.Msg, format string, args ...any) error {
	if pe, ok := m.(*wire.Error); ok && pe.Kind == wire.ErrorEnded {
		return fmt.Errorf("%w: %s", errServingEnded, pe.Msg)
	}
	return fmt.Errorf(format+", got %s", append(args, msgName(m))...)
}

// msgName names a message that came where another was expected; a peer's
// error comes with what it said.
func msgName(m wire.Msg) string {
	if e, ok := m.(*wire.Error); ok {
		return fmt.Sprintf("an error (%s)", e.Msg)
	}
	return m.Type().String()
}

func releaseMsg(m wire.Msg) {
	if c, ok := m.(*wire.SnapChunk); ok {
		wire.ReleaseChunk(c)
	}
}

func (p *peer) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// knownPeer is what the status page lists: every console seen since start.
type knownPeer struct {
	state     wire.State
	connected bool
	lostAt    time.Time // when the last connection ended
	listen    string    // its peer.listen, kept once it is gone
}

// network is the engine's side of the show network.
type network struct {
	transport Transport
	ln        net.Listener

	mu    sync.Mutex
	peers map[string]*peer     // connected, by console ID
	known map[string]knownPeer // ever seen, by console ID

	refused  int // connections refused for authentication
	faultMu  sync.Mutex
	faults   map[string]faultNote // protocol faults by peer address
	wg       group                // every goroutine of the engine (Close waits for them)
	reqID    uint64
	dialAddr map[string]bool
	tried    map[string]bool // configured addresses dialed at least once
	// heardFrom: when a beacon of each console with a smaller ID than this
	// one's was first heard (dialsFirst).
	heardFrom map[string]time.Time

	discoveryFrom time.Time // when discovery started; zero without it
}

type faultNote struct {
	msg string
	at  time.Time
}

// startNetwork listens and dials the configured peers. It returns at once.
func (e *Engine) startNetwork(ctx context.Context) error {
	n := &e.net
	n.peers = map[string]*peer{}
	n.known = map[string]knownPeer{}
	n.faults = map[string]faultNote{}
	n.dialAddr = map[string]bool{}
	n.tried = map[string]bool{}
	n.heardFrom = map[string]time.Time{}
	n.transport = e.opts.Transport
	if n.transport == nil {
		t, err := wire.NewTLS(e.opts.Key, e.id)
		if err != nil {
			return err
		}
		n.transport = tlsTransport{tls: t}
	}
	if e.opts.Listen != "" {
		ln, err := n.transport.Listen(e.opts.Listen)
		if err != nil {
			return fmt.Errorf("replication: listen %s: %w", e.opts.Listen, err)
		}
		n.ln = ln
		e.sched.Go(&n.wg, func() { e.acceptLoop(ctx, ln) })
	}
	for _, a := range e.opts.Peers {
		e.dial(ctx, a)
	}
	return nil
}

// ListenAddr is the peer listener's address, or "" without one.
func (e *Engine) ListenAddr() string {
	if e.net.ln == nil {
		return ""
	}
	return e.net.ln.Addr().String()
}

func (e *Engine) hello() wire.Hello {
	return wire.Hello{
		Version: e.opts.ProtocolVersion,
		Console: e.id,
		Listen:  e.ListenAddr(),
		Master:  e.opts.Master,
		KeyFP:   e.opts.Key.Fingerprint(),
	}
}

func (e *Engine) acceptLoop(ctx context.Context, ln net.Listener) {
	for {
		nc, release, err := e.accept(ctx, ln) // waits out accept errors (accept.go)
		if err != nil {
			return
		}
		if !e.linkUp.Load() {
			nc.Close() // an island takes no peers
			release()
			continue
		}
		e.sched.Go(&e.net.wg, func() {
			defer release()
			c, err := e.net.transport.Server(ctx, nc)
			if err != nil {
				e.connFailed(nc.RemoteAddr().String(), err)
				return
			}
			if c.Protocol() == wire.ControlProto {
				if e.opts.Control == nil {
					c.Close()
					return
				}
				e.opts.Control(c.NetConn())
				return
			}
			e.handshake(ctx, c, false, nc.RemoteAddr().String())
		})
	}
}

// dial keeps a connection to addr: it reconnects whenever the peer there
// is not connected, backing off up to 2 s.
func (e *Engine) dial(ctx context.Context, addr string) { e.dialWith(ctx, addr, nil) }

// dialWith is dial; d, when not nil, is an address a beacon named, which is
// given up after a few attempts that do not reach its console (beacons.go).
func (e *Engine) dialWith(ctx context.Context, addr string, d *discovered) {
	e.net.mu.Lock()
	if e.net.dialAddr[addr] {
		e.net.mu.Unlock()
		return
	}
	e.net.dialAddr[addr] = true
	e.net.mu.Unlock()
	e.sched.Go(&e.net.wg, func() {
		backoff := 50 * time.Millisecond
		for ctx.Err() == nil {
			linkCh := e.linkChanged()
			if !e.linkUp.Load() {
				if e.sched.Wait(time.Time{}, linkCh, ctx.Done()) == 1 {
					return
				}
				backoff = 50 * time.Millisecond
				continue
			}
			if p := e.peerAt(addr); p != nil {
				e.net.mu.Lock()
				e.net.tried[addr] = true // as good as dialed: it is connected
				e.net.mu.Unlock()
				if e.sched.Wait(time.Time{}, p.done, ctx.Done()) == 1 {
					return
				}
				continue
			}
			dctx, cancel := e.withDeadline(ctx, after(e.sched, 2*time.Second))
			c, err := e.dialPeer(dctx, addr)
			cancel()
			kept := false
			if err == nil {
				kept = e.handshake(ctx, c, true, addr)
			} else {
				e.connFailed(addr, err)
			}
			e.net.mu.Lock()
			e.net.tried[addr] = true
			e.net.mu.Unlock()
			if d != nil {
				var stop bool
				if kept, stop = d.after(e, addr, kept); stop {
					return
				}
			}
			if kept {
				backoff = 50 * time.Millisecond
				continue
			}
			// The cable back (or out) tries at once.
			if e.sched.Wait(after(e.sched, backoff), linkCh, ctx.Done()) == 1 {
				return
			}
			backoff = min(2*backoff, 2*time.Second)
		}
	})
}

// dialPeer connects to the console at addr and runs the transport's
// handshake (TLS in production).
func (e *Engine) dialPeer(ctx context.Context, addr string) (*wire.Conn, error) {
	nc, err := e.net.transport.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("wire: connecting to peer %s: %w", addr, err)
	}
	return e.net.transport.Client(ctx, nc)
}

// peerAt returns the connected peer that listens at addr, whichever of
// the two opened the connection. Dialing a console that is connected
// already would replace the connection in use (both keep the one the
// smaller ID opened), and with it end the follow or join running on it.
func (e *Engine) peerAt(addr string) *peer {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	for _, p := range e.net.peers {
		if p.listen == addr {
			return p
		}
	}
	return nil
}

// listenAddr is where the console behind a connection takes connections:
// the address dialed, for one this console opened; else the address the
// console announced, with the host the connection came from when it
// listens on every interface.
func listenAddr(dialed bool, addr, announced string) string {
	if dialed {
		return addr
	}
	host, port, err := net.SplitHostPort(announced)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if host, _, err = net.SplitHostPort(addr); err != nil {
			return ""
		}
	}
	return net.JoinHostPort(host, port)
}

// connFailed logs a connection that did not get through, counting the ones
// refused for authentication and noting protocol faults for the panel.
func (e *Engine) connFailed(addr string, err error) {
	switch {
	case errors.Is(err, wire.ErrAuth):
		e.net.mu.Lock()
		e.net.refused++
		e.net.mu.Unlock()
		e.log.Warn("peer refused: not authenticated", "addr", addr, "err", err)
		e.notify()
	case errors.Is(err, wire.ErrIncompatibleVersion), errors.Is(err, wire.ErrDuplicateConsole):
		e.net.faultMu.Lock()
		e.net.faults[addr] = faultNote{msg: err.Error(), at: e.sched.Now()}
		e.net.faultMu.Unlock()
		e.log.Error("peer refused", "addr", addr, "err", err)
		e.notify()
	default:
		e.log.Debug("peer connection failed", "addr", addr, "err", err)
	}
}

// handshake runs the protocol handshake and registers the peer. It reports
// whether the connection was kept.
func (e *Engine) handshake(ctx context.Context, c *wire.Conn, dialed bool, addr string) bool {
	h, err := wire.HandshakeUntil(c, e.hello(), after(e.sched, 5*time.Second))
	if err != nil {
		c.Close()
		if errors.Is(err, wire.ErrDuplicateConsole) {
			e.noteDuplicate(dialed, addr, h) // a launch is refused meanwhile (duplicate.go)
		}
		e.connFailed(addr, err)
		return false
	}
	e.net.faultMu.Lock()
	delete(e.net.faults, addr)
	e.net.faultMu.Unlock()
	return e.addPeer(ctx, c, h, dialed, addr)
}

// addPeer registers a connection. Two consoles that dial each other end up
// with two connections; both keep the one opened by the console with the
// smaller ID, so they agree without talking about it.
func (e *Engine) addPeer(ctx context.Context, c *wire.Conn, h wire.Hello, dialed bool, addr string) bool {
	p := &peer{
		e: e, id: h.Console, conn: c, dialed: dialed, addr: addr, listen: listenAddr(dialed, addr, h.Listen),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		inbox:   make(chan wire.Msg, 16),
		fwd:     map[uint64]chan *wire.ForwardReply{},
		seen:    e.sched.Now(),
		state:   wire.State{Console: h.Console, Role: string(RoleOff), Master: h.Master},
	}
	preferred := func(q *peer) bool { return q.dialed == (e.id < q.id) }
	e.net.mu.Lock()
	if !e.linkUp.Load() {
		// The cable is out: this console is an island until it is back.
		e.net.mu.Unlock()
		c.Close()
		return false
	}
	old := e.net.peers[p.id]
	if old != nil && (!preferred(p) || preferred(old)) {
		e.net.mu.Unlock()
		c.Close()
		return false
	}
	e.net.peers[p.id] = p
	e.net.known[p.id] = knownPeer{state: p.state, connected: true, listen: p.listen}
	e.net.mu.Unlock()
	if old != nil {
		old.conn.Close() // its readLoop removes it (removePeer checks it is still the one registered)
	}
	e.log.Info("peer connected", "peer", p.id, "addr", addr, "dialed", dialed)

	e.sched.Go(&e.net.wg, func() { e.readLoop(ctx, p) })
	e.sched.Go(&e.net.wg, func() { e.heartbeat(ctx, p) })
	e.notify()
	e.kick()
	return true
}

func (e *Engine) removePeer(p *peer, err error) {
	e.net.mu.Lock()
	if e.net.peers[p.id] == p {
		delete(e.net.peers, p.id)
		k := e.net.known[p.id]
		k.connected, k.lostAt = false, e.sched.Now()
		e.net.known[p.id] = k
	}
	e.net.mu.Unlock()
	p.conn.Close()
	close(p.done)
	e.stopServing(p)
	e.log.Info("peer disconnected", "peer", p.id, "err", err)
	e.notify()
	e.kick()
}

// readLoop reads one peer's messages until the connection ends or falls
// silent for PeerTimeout.
func (e *Engine) readLoop(ctx context.Context, p *peer) {
	var err error
	defer func() { e.removePeer(p, err) }()
	for ctx.Err() == nil {
		p.conn.SetReadDeadline(after(e.sched, e.opts.PeerTimeout))
		var m wire.Msg
		m, err = p.conn.ReadMsg()
		if err != nil {
			if errors.Is(err, wire.ErrMalformed) {
				e.badMessage(p, err) // only a peer with the key can send; still, never trust it
			}
			return
		}
		if err = e.checkMsg(p, m); err != nil {
			return
		}
		p.mu.Lock()
		p.seen = e.sched.Now()
		p.mu.Unlock()
		switch m := m.(type) {
		case *wire.State:
			changed := p.setState(*m)
			e.net.mu.Lock()
			if e.net.peers[p.id] == p {
				e.net.known[p.id] = knownPeer{state: *m, connected: true, listen: p.listen}
			}
			e.net.mu.Unlock()
			if changed {
				if m.Role == string(RoleOff) {
					e.stopServing(p) // it logged off: stop waiting for its acks
				}
				e.notify()
				e.kick()
			}
		case *wire.Join:
			e.startServing(ctx, p, m)
		case *wire.Ack:
			e.acks.onAck(p, m.Seq)
		case *wire.Forward:
			if !p.takeForwardSlot(ctx) {
				return
			}
			e.sched.Go(&e.net.wg, func() {
				defer p.releaseForwardSlot()
				e.serveForward(ctx, p, m)
			})
		case *wire.ForwardReply:
			p.fwdMu.Lock()
			ch := p.fwd[m.ReqID]
			delete(p.fwd, m.ReqID)
			p.fwdMu.Unlock()
			if ch != nil {
				ch <- m
			}
		case *wire.Leaving:
			st := p.State()
			st.Leaving = true
			p.setState(st)
			e.stopServing(p)
			e.notify()
			e.kick()
		case *wire.JoinReply, *wire.Edits, *wire.SnapBegin, *wire.SnapFile, *wire.SnapChunk, *wire.SnapEnd, *wire.Error:
			if m, ok := m.(*wire.Error); ok {
				level := slog.LevelWarn
				if m.Kind == wire.ErrorEnded {
					level = slog.LevelDebug // what it ended says so at INFO
				}
				e.log.Log(context.Background(), level, "peer reported an error", "peer", p.id, "kind", m.Kind, "msg", m.Msg)
			}
			// An error ends the exchange under way, if any: its reader
			// takes it as the answer it was not waiting for.
			for queued := false; !queued; {
				if p.exchange.Load() == 0 {
					releaseMsg(m)
					break
				}
				// Every 100 ms: look again whether the exchange ended.
				switch send(e.sched, p.inbox, m, after(e.sched, 100*time.Millisecond), ctx.Done()) {
				case 0:
					return
				case 1:
					queued = true
				}
			}
		default:
			e.log.Warn("unexpected message from peer", "peer", p.id, "type", m.Type())
		}
	}
}

// heartbeat sends this console's State every Heartbeat, and at once when it
// changes.
func (e *Engine) heartbeat(ctx context.Context, p *peer) {
	next := after(e.sched, e.opts.Heartbeat)
	for {
		// Taken before the State is read: a change made while it is read and
		// sent closes this channel, where the next one would miss it, and the
		// peers would learn of it (a launch as active, say) only a heartbeat
		// later. A console launching meanwhile did not see the active and
		// created a show of its own.
		changed := e.stateChanged()
		f, current, err := e.stateFrame()
		if err == nil {
			err = p.conn.SendFrame(f)
		}
		if err != nil {
			p.conn.Close()
			return
		}
		wake := next
		if !current {
			wake = earlier(next, after(e.sched, staleStateRetry))
		}
		if e.sched.Wait(wake, changed, p.done, ctx.Done()) > 0 {
			return
		}
		if now := e.sched.Now(); !now.Before(next) {
			next = now.Add(e.opts.Heartbeat)
		}
	}
}

// stateFrame is the heartbeat encoded: once for every peer while the State
// is the same, not once per peer.
func (e *Engine) stateFrame() (wire.Frame, bool, error) {
	st, current := e.stateMsg()
	if c := e.stateCache.Load(); c != nil && sameState(c.st, st) {
		return c.f, current, nil
	}
	f, err := wire.EncodeFrame(&st)
	if err != nil {
		return f, current, err
	}
	e.stateCache.Store(&encodedState{st: st, f: f})
	return f, current, nil
}

type encodedState struct {
	st wire.State
	f  wire.Frame
}

func sameState(a, b wire.State) bool {
	return a.Console == b.Console && a.Role == b.Role && a.Show == b.Show && a.ShowID == b.ShowID && a.Seq == b.Seq &&
		a.Stale == b.Stale && a.Master == b.Master && a.Leaving == b.Leaving && a.Following == b.Following &&
		slices.Equal(a.Epochs, b.Epochs)
}

// staleStateRetry: how soon a heartbeat that had to repeat the last State
// tries again to send the current one.
const staleStateRetry = 10 * time.Millisecond

// stateMsg is this console's heartbeat. While a copy is switched in (under
// the write lock, which can take longer than PeerTimeout for a big show) it
// repeats the last one, so the peers do not take the pause for a crash;
// current is false then: the State may be one from before a change.
func (e *Engine) stateMsg() (st wire.State, current bool) {
	if !e.mu.TryRLock() {
		if last := e.lastState.Load(); last != nil {
			return *last, false
		}
		e.mu.RLock()
	}
	st = wire.State{Console: e.id, Role: string(e.role), Master: e.opts.Master}
	if e.following != nil {
		st.Following = e.following.id
	}
	if e.show != nil {
		lin := e.show.Lineage()
		st.Show, st.ShowID, st.Epochs, st.Seq = e.show.Name(), lin.ShowID, toWireEpochs(lin.Epochs), lin.Seq
	}
	// Stored under the lock: the heartbeats of two peers read it at once,
	// and one stored after the lock could put back a State from before a
	// change another had already stored, for the repeats to send.
	e.lastState.Store(&st)
	e.mu.RUnlock()
	return st, true
}

// connected returns the connected peers, sorted by ID.
func (e *Engine) connected() []*peer {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	out := make([]*peer, 0, len(e.net.peers))
	for _, p := range e.net.peers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// reconnecting returns the consoles whose connection ended after since and
// that have none now. Most are coming back: of two consoles that dialled
// each other, the one whose connection the other closed has none until the
// other's is through. Without the link, none can.
func (e *Engine) reconnecting(since time.Time) []string {
	if !e.linkUp.Load() {
		return nil
	}
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	var out []string
	for id, k := range e.net.known {
		if !k.connected && k.lostAt.After(since) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// peerViews lists the consoles connected now, and those whose connection
// ended, as the decider sees them, sorted by ID.
func (e *Engine) peerViews() []peerView {
	e.net.mu.Lock()
	var out []peerView
	for id, k := range e.net.known {
		if !k.connected {
			out = append(out, peerView{ID: id, LostAt: k.lostAt, State: k.state})
		}
	}
	peers := make([]*peer, 0, len(e.net.peers))
	for _, p := range e.net.peers {
		peers = append(peers, p)
	}
	e.net.mu.Unlock()
	for _, p := range peers {
		p.mu.Lock()
		out = append(out, peerView{ID: p.id, Connected: true, Heard: !p.stateAt.IsZero(), State: p.state})
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// activeFor returns the connected peer that is active for show; when two
// are (a split network meeting again), the one that is to stay (see ahead).
func (e *Engine) activeFor(show string) *peer {
	var best *peer
	var bestC candidate
	for _, p := range e.connected() {
		if !p.servesShow(show) {
			continue
		}
		if c := peerCandidate(p.State()); best == nil || c.ahead(bestC) {
			best, bestC = p, c
		}
	}
	return best
}

func (e *Engine) peerList() []Peer {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	out := []Peer{}
	for id, k := range e.net.known {
		out = append(out, Peer{Console: id, Role: Role(k.state.Role), Show: k.state.Show, Seq: k.state.Seq, Connected: k.connected, Address: k.listen})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Console < out[j].Console })
	return out
}

func (e *Engine) protocolFaults() []string {
	e.net.faultMu.Lock()
	defer e.net.faultMu.Unlock()
	var out []string
	now := e.sched.Now()
	for addr, f := range e.net.faults {
		// A peer that keeps trying keeps the fault fresh; one that went away
		// lets it fade.
		if now.Sub(f.at) > 30*time.Second {
			delete(e.net.faults, addr)
			continue
		}
		out = append(out, f.msg)
	}
	sort.Strings(out)
	return out
}

func toWireEpochs(eps []store.Epoch) []wire.Epoch {
	out := make([]wire.Epoch, len(eps))
	for i, e := range eps {
		out[i] = wire.Epoch{ID: e.ID, FirstSeq: e.FirstSeq}
	}
	return out
}

func fromWireEpochs(eps []wire.Epoch) []store.Epoch {
	out := make([]store.Epoch, len(eps))
	for i, e := range eps {
		out[i] = store.Epoch{ID: e.ID, FirstSeq: e.FirstSeq}
	}
	return out
}
