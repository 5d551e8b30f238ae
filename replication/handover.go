package replication

// The hand-over: an active that logs off (consolectl logoff, the LOGOFF
// button, SIGTERM) first makes sure a backup holds every edit it
// acknowledged, so that the successor the backups choose (the one with the
// most edits) has them all. A backup still taking its copy holds none of
// the edits acknowledged meanwhile, so the hand-over waits for its copy to
// finish too. It gives up after HandOverLimit; this copy then keeps the
// edits no backup holds, its presence record says how many, and they merge
// back into the show when it next joins the show's active.

import (
	"context"
	"slices"
	"time"

	"consoled/replication/store"
)

// HandOver is a log-off waiting for its backups, as Status shows it.
type HandOver struct {
	Since   time.Time
	Seq     uint64   // the last edit this console committed: what a backup must hold
	Waiting []string // the backups that do not hold it yet ("desk-2 (copying)")
}

// handOver ends this active's term before a log-off: no new edits, and what
// is committed reaches a backup. It returns how many of the committed edits
// no backup holds (0 once handed over).
func (e *Engine) handOver(ctx context.Context, sh *store.Show) uint64 {
	e.closePipeline()
	seq := sh.Lineage().Seq
	held, ok := e.waitHandOver(ctx, seq)
	e.mu.Lock()
	e.handOverState = nil
	e.mu.Unlock()
	e.stopAcks()
	if ok {
		return 0
	}
	e.log.Error("logging off before a backup holds every edit this console acknowledged; they stay in this copy and merge back into the show when it next launches",
		"show", sh.Name(), "seq", seq, "held_by_a_backup", held, "unshared", seq-held, "waited", e.opts.HandOverLimit)
	return seq - held
}

// waitHandOver waits until the backups hold seq: every live one, or, once
// HandOverWait has passed, at least one. A backup still taking a copy
// counts once it has the copy and the edits after it. It returns the
// highest seq a backup holds, and whether the hand-over is done.
func (e *Engine) waitHandOver(ctx context.Context, seq uint64) (uint64, bool) {
	a := &e.acks
	start := e.sched.Now()
	patience := start.Add(e.opts.HandOverWait)
	limit := start.Add(e.opts.HandOverLimit)
	tell := start.Add(2 * time.Second)
	told := false
	for {
		a.mu.Lock()
		var held uint64
		allLive := true
		var waiting []string
		for id, l := range a.links {
			held = max(held, l.acked)
			if l.acked < seq {
				waiting = append(waiting, id)
				allLive = allLive && !l.live
			}
		}
		for p := range a.joining {
			waiting = append(waiting, p.id+" (copying)")
		}
		alone := len(a.links) == 0 && len(a.joining) == 0
		progress := a.progress
		a.mu.Unlock()
		switch {
		case alone:
			return seq, true // nobody to hand over to: this is the last copy of the show
		case held >= seq && (allLive || !e.sched.Now().Before(patience)):
			if told {
				e.log.Info("handed over", "seq", seq, "waited", e.sched.Now().Sub(start).Round(time.Millisecond))
			}
			return held, true
		}
		slices.Sort(waiting)
		e.mu.Lock()
		e.handOverState = &HandOver{Since: start, Seq: seq, Waiting: waiting}
		e.mu.Unlock()
		if !told && held < seq {
			told = true
			e.log.Info("handing over: waiting until a backup holds every acknowledged edit", "seq", seq, "held", held, "waiting_for", waiting)
			e.notify()
		}
		now := e.sched.Now()
		if !now.Before(limit) {
			return held, false
		}
		if !now.Before(tell) {
			e.log.Info("still handing over", "seq", seq, "held", held, "waiting_for", waiting, "waited", now.Sub(start).Round(time.Second))
			tell = now.Add(2 * time.Second)
		}
		wake := earlier(limit, tell)
		if now.Before(patience) {
			wake = earlier(wake, patience)
		}
		if e.sched.Wait(wake, progress, ctx.Done()) == 1 {
			return held, false
		}
	}
}

// joinStarted and joinStreaming track the joins being served that are not
// yet streamed to (see ackSet.joining).
func (e *Engine) joinStarted(p *peer) {
	a := &e.acks
	a.mu.Lock()
	a.joining[p] = true
	a.mu.Unlock()
}

func (e *Engine) joinEnded(p *peer) {
	a := &e.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.joining[p] {
		delete(a.joining, p)
		e.releaseLocked() // wakes a hand-over waiting for it
	}
}
