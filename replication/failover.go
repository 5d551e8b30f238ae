package replication

// Failover: who is the active when the active goes, and which of two actives
// stays when a split network meets again. Every console decides from the
// same States (heartbeats), so they agree without a vote; no quorum, because
// a live show must go on with any one console left.

import (
	"context"
	"time"

	"consoled/replication/store"
)

// reconcile keeps the role right for what the network looks like now: it
// asks the decider (decide.go) and carries its action out.
func (e *Engine) reconcile() {
	if !e.launchMu.tryLock() {
		return // a launch or log-off is deciding the role; it kicks when done
	}
	defer e.launchMu.unlock()
	v, sh := e.view()
	if sh == nil {
		return
	}
	e.updatePresence(sh)
	a := decide(v)
	switch a.Kind {
	case stepDown:
		if w := e.peer(a.Peer); w != nil {
			e.stepDown(sh, w, a.Why)
		}
	case follow:
		if p := e.peer(a.Peer); p != nil {
			e.startFollow(sh, p)
		}
	case takeOver:
		e.takeOver(sh, v.OrphanSince, a.Why)
	case retry:
		e.retryIn(a.At.Sub(v.Now))
	}
}

// view is what the decider is to see now, and the open show.
func (e *Engine) view() (view, *store.Show) {
	now := e.sched.Now()
	e.mu.Lock()
	v := view{
		Now: now, ID: e.id, Role: e.role, Master: e.opts.Master, LinkUp: e.linkUp.Load(),
		Following: e.followRunning, SteppedFor: e.steppedFor,
		TakeoverTimeout: e.opts.TakeoverTimeout, Heartbeat: e.opts.Heartbeat,
	}
	sh := e.show
	if (e.role == RoleBackup || e.role == RoleSyncing) && !e.followRunning && e.orphanSince.IsZero() {
		e.orphanSince = now
	}
	v.OrphanSince = e.orphanSince
	e.mu.Unlock()
	if sh == nil {
		return v, nil
	}
	v.Show, v.Seq = sh.Name(), sh.Lineage().Seq
	v.Peers = e.peerViews()
	return v, sh
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
	session := e.session
	e.sched.Go(&e.net.wg, func() { e.runFollow(session, p, sh.Name(), nil) })
}

// retryIn runs reconcile again after d, whatever else happens meanwhile.
func (e *Engine) retryIn(d time.Duration) {
	e.afterFunc(max(d, time.Millisecond), e.kick)
}

// takeOver makes this backup the active of sh with a new epoch.
func (e *Engine) takeOver(sh *store.Show, since time.Time, why string) {
	epoch := e.newEpochID()
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
	e.role, e.epoch = RoleActive, epoch
	e.following = nil
	e.syncing = false
	e.orphanSince = time.Time{}
	e.steppedFor = ""
	e.mu.Unlock()
	e.startAcks()
	e.log.Info("took over as active", "show", sh.Name(), "epoch", epoch, "seq", lin.Seq,
		"without_active_for", e.sched.Now().Sub(since).Round(time.Millisecond), "why", why)
	e.roleChanged()
}

// stepDown hands the show to w, an active further ahead met on the
// network (a split network meeting again), and joins it. Edits waiting here for backups fail unless a backup already
// holds them; the copy is archived on joining if it is not a prefix of w's.
func (e *Engine) stepDown(sh *store.Show, w *peer, why string) {
	e.mu.Lock()
	if e.show != sh || e.role != RoleActive {
		e.mu.Unlock()
		return
	}
	e.endSession() // stops serving this console's backups: they go to w
	e.session, e.endSession = context.WithCancel(context.Background())
	e.role = RoleSyncing
	e.orphanSince = e.sched.Now()
	e.steppedFor = w.id
	e.mu.Unlock()
	e.closePipeline()
	e.stopAcks()
	// This console's streams to its backups end before it sends w anything
	// as a backup: an edit they send late must not arrive after the join.
	e.waitServing(time.Second)
	e.log.Warn("another active serves the show, further ahead; stepping down to join it", "show", sh.Name(),
		"active", w.id, "their_seq", w.State().Seq, "our_seq", sh.Lineage().Seq, "why", why)
	e.roleChanged()
	e.startFollow(sh, w)
}

// waitServing waits up to d for the joins being served to end. It looks
// every few milliseconds: it runs once per step-down, and a count is all
// there is to wait on.
func (e *Engine) waitServing(d time.Duration) {
	deadline := e.sched.Now().Add(d)
	for e.serving.Load() > 0 {
		if !e.sched.Now().Before(deadline) {
			e.log.Warn("a backup's stream is slow to end", "waited", d)
			return
		}
		sleep(e.sched, 5*time.Millisecond)
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
