package replication

// Failover: who is the active when the active goes, and which of two actives
// stays when a split network meets again. Every console decides from the
// same States (heartbeats), so they agree without a vote; no quorum, because
// a live show must go on with any one console left.

import (
	"context"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// candidate is a console as these decisions see it.
type candidate struct {
	id     string
	seq    uint64
	master bool
}

func peerCandidate(st wire.State) candidate {
	return candidate{id: st.Console, seq: st.Seq, master: st.Master}
}

// ahead orders consoles for the active role: the most up to date first,
// then the master, then the lower ID. It picks the successor among backups
// (the one with the highest seq holds every edit the active acknowledged,
// since each went to at least one backup and backups apply in order), and
// the active that stays when two meet (a strict prefix has the lower seq,
// so a copy is never replaced by one it contains).
//
// Two actives meeting each compare their own live seq with the other's last
// heartbeat, which is never ahead of that console's live seq; so they can
// never both step down, and once the heartbeats have arrived exactly one
// does.
func (c candidate) ahead(o candidate) bool {
	switch {
	case c.seq != o.seq:
		return c.seq > o.seq
	case c.master != o.master:
		return c.master
	}
	return c.id < o.id
}

// reconcile keeps the role right for what the network looks like now: a
// backup follows the active of its show, or chooses the next one when there
// is none; an active that meets a better active steps down.
func (e *Engine) reconcile() {
	if !e.launchMu.TryLock() {
		return // a launch or log-off is deciding the role; it kicks when done
	}
	defer e.launchMu.Unlock()
	e.mu.RLock()
	role, sh, running, since := e.role, e.show, e.followRunning, e.orphanSince
	e.mu.RUnlock()
	if sh == nil {
		return
	}
	e.updatePresence(sh)
	switch role {
	case RoleActive:
		me := candidate{id: e.id, seq: sh.Lineage().Seq, master: e.opts.Master}
		if w := e.activeFor(sh.Name()); w != nil && peerCandidate(w.State()).ahead(me) {
			e.stepDown(sh, w)
		}
	case RoleBackup, RoleSyncing:
		if running {
			return
		}
		if p := e.activeFor(sh.Name()); p != nil {
			e.startFollow(sh, p)
			return
		}
		e.elect(sh, role, since)
	}
}

// startFollow follows p as the active of sh.
func (e *Engine) startFollow(sh *store.Show, p *peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.show != sh || e.followRunning || (e.role != RoleBackup && e.role != RoleSyncing) {
		return
	}
	e.followRunning = true
	e.orphanSince = time.Time{}
	go e.runFollow(e.session, p, sh.Name(), nil)
}

// elect runs on a backup that follows no active and sees none: the backups
// of the show that are in the same situation pick the first by ahead, which
// takes over with a new epoch; the others then follow it. While another
// backup still follows an active, that active is most likely alive and
// this console only lost its connection to it (which the dialer restores
// at once), or the other backup has not yet noticed the active went (it
// will within a heartbeat, and say so). Either way this console waits, up
// to TakeoverTimeout, as it waits for a chosen successor that does not take
// over (hung, or seeing the network differently); then it takes over
// itself: two actives are resolved when they meet, an operator is never
// left without one.
func (e *Engine) elect(sh *store.Show, role Role, since time.Time) {
	now := e.clock.Now()
	if e.waitForStepDownWinner(sh) {
		return
	}
	if since.IsZero() {
		since = now
		e.mu.Lock()
		if e.orphanSince.IsZero() {
			e.orphanSince = now
		}
		e.mu.Unlock()
	}
	best := candidate{id: e.id, seq: sh.Lineage().Seq, master: e.opts.Master}
	// A console still receiving a copy holds only its old one: any backup
	// with a complete copy goes first.
	bestComplete := role == RoleBackup
	var stillFollowing string
	for _, p := range e.connected() {
		st := p.State()
		if st.Role != string(RoleBackup) || st.Show != sh.Name() || st.Leaving {
			continue
		}
		if st.Following != "" {
			stillFollowing = st.Console
			continue
		}
		if c := peerCandidate(st); !bestComplete || c.ahead(best) {
			best, bestComplete = c, true
		}
	}
	if stillFollowing != "" || best.id != e.id {
		if d := e.opts.TakeoverTimeout - now.Sub(since); d > 0 {
			e.retryIn(d)
			return
		}
		e.log.Warn("no other console took over; taking over", "successor", best.id, "still_following", stillFollowing)
	}
	e.takeOver(sh, since)
}

// retryIn runs reconcile again after d, whatever else happens meanwhile.
func (e *Engine) retryIn(d time.Duration) {
	e.clock.AfterFunc(max(d, time.Millisecond), e.kick)
}

// takeOver makes this backup the active of sh with a new epoch.
func (e *Engine) takeOver(sh *store.Show, since time.Time) {
	epoch := newEpochID()
	e.mu.Lock()
	if e.show != sh || e.followRunning || (e.role != RoleBackup && e.role != RoleSyncing) {
		e.mu.Unlock()
		return
	}
	lin, err := sh.StartEpoch(epoch)
	if err != nil {
		e.mu.Unlock()
		e.log.Error("cannot take over as active", "show", sh.Name(), "err", err)
		e.retryIn(time.Second)
		return
	}
	e.role = RoleActive
	e.following = nil
	e.syncing = false
	e.orphanSince = time.Time{}
	e.mu.Unlock()
	e.startAcks()
	e.log.Info("took over as active", "show", sh.Name(), "epoch", epoch, "seq", lin.Seq,
		"without_active_for", e.clock.Since(since).Round(time.Millisecond))
	e.roleChanged()
}

// stepDown hands the show to w, an active further ahead met on the
// network (a split network meeting again), and joins it. Edits waiting here for backups fail unless a backup already
// holds them; the copy is archived on joining if it is not a prefix of w's.
func (e *Engine) stepDown(sh *store.Show, w *peer) {
	e.mu.Lock()
	if e.show != sh || e.role != RoleActive {
		e.mu.Unlock()
		return
	}
	e.endSession() // stops serving this console's backups: they go to w
	e.session, e.endSession = context.WithCancel(context.Background())
	e.role = RoleSyncing
	e.orphanSince = e.clock.Now()
	e.steppedFor = w.id
	e.mu.Unlock()
	e.closePipeline()
	e.stopAcks()
	// This console's streams to its backups end before it sends w anything
	// as a backup: an edit they send late must not arrive after the join.
	e.waitServing(time.Second)
	e.log.Warn("another active serves the show, further ahead; stepping down to join it", "show", sh.Name(),
		"active", w.id, "their_seq", w.State().Seq, "our_seq", sh.Lineage().Seq)
	e.roleChanged()
	e.startFollow(sh, w)
}

// waitForStepDownWinner keeps a console that stepped down for another
// from taking the show back while that one can be reached: its copy is
// behind, and the edits it would take make the copies diverge further. It
// joins again instead. Only once the winner has been out of reach for
// TakeoverTimeout does the usual choice of a successor apply. It reports
// whether elect is to wait.
func (e *Engine) waitForStepDownWinner(sh *store.Show) bool {
	e.mu.RLock()
	id := e.steppedFor
	e.mu.RUnlock()
	if id == "" {
		return false
	}
	if p := e.peer(id); p != nil {
		p.mu.Lock()
		heard := !p.stateAt.IsZero()
		p.mu.Unlock()
		if !heard {
			// Connected again a moment ago: its first State says what it is.
			e.retryIn(e.opts.Heartbeat)
			return true
		}
		if !p.servesShow(sh.Name()) {
			// It is no longer the active (logged off, or stepped down in
			// turn): the usual choice applies.
			e.clearSteppedFor(id)
			return false
		}
		e.startFollow(sh, p)
		return true
	}
	e.net.mu.Lock()
	k := e.net.known[id]
	e.net.mu.Unlock()
	if wait := e.opts.TakeoverTimeout - e.clock.Since(k.lostAt); e.linkUp.Load() && wait > 0 {
		e.retryIn(min(wait, e.opts.Heartbeat))
		return true
	}
	e.log.Info("the console this one stepped down for is out of reach", "console", id)
	e.clearSteppedFor(id)
	return false
}

func (e *Engine) clearSteppedFor(id string) {
	e.mu.Lock()
	if e.steppedFor == id {
		e.steppedFor = ""
	}
	e.mu.Unlock()
}

// waitServing waits up to d for the joins being served to end. It looks
// every few milliseconds: it runs once per step-down, and a count is all
// there is to wait on.
func (e *Engine) waitServing(d time.Duration) {
	deadline := e.clock.Now().Add(d)
	for e.serving.Load() > 0 {
		if !e.clock.Now().Before(deadline) {
			e.log.Warn("a backup's stream is slow to end", "waited", d)
			return
		}
		<-e.clock.After(5 * time.Millisecond)
	}
}

// SetLink tells the engine the NIC's carrier changed. Without it this
// console is an island: it drops its peers at once (their heartbeats could
// not arrive anyway) and serves its own operator, as active of the island
// if it was a backup; when the cable is back it reconnects and the two
// sides' lineages decide who stays active.
func (e *Engine) SetLink(up bool) {
	if e.linkUp.Swap(up) == up {
		return
	}
	e.log.Info("link changed", "up", up)
	e.bcastMu.Lock()
	close(e.linkCh)
	e.linkCh = make(chan struct{})
	e.bcastMu.Unlock()
	if !up && e.started {
		for _, p := range e.connected() {
			p.conn.Close()
		}
	}
	e.notify()
	e.kick()
}

func (e *Engine) linkChanged() <-chan struct{} {
	e.bcastMu.Lock()
	defer e.bcastMu.Unlock()
	return e.linkCh
}
