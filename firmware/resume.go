package firmware

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"consoled/api"
	"consoled/replication"
)

// consoled --resume: a console that stopped while logged on to a show (a
// power cut, a crash, kill -9) launches that show again at start, in the
// background as the LAUNCH button would, never forced: it joins the
// show's active as a backup when there is one (rule 4), waits for the
// master as any launch does (rule 5), and the stale-launch guard still
// refuses a copy that may be outdated (rule 6). A console that logged off
// (or was stopped with SIGTERM, which logs off) stays off.
//
// A stale refusal is tried again whenever a console connects that was not
// connected at the last try, or one is active for the show: after a power
// cut the consoles come back one by one, and the guard lets a copy launch,
// or join, once those that may have carried on are back. It is also tried
// again after a pause that grows from resumeRetry to resumeRetryMax, for
// the refusals nothing visible ends (an answer lost to a connection broken
// mid-way, with everyone already connected). A launch or log-off by the
// operator ends it.

const (
	resumeRetry    = 2 * time.Second
	resumeRetryMax = 30 * time.Second
)

type resumer struct {
	mu  sync.Mutex
	st  *api.Resume   // nil without --resume
	end chan struct{} // closed when the operator takes over
	one sync.Once
	// wake receives a value when the engine's state changes.
	wake chan struct{}
}

func (r *resumer) set(show, outcome, detail string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = &api.Resume{Show: show, Outcome: outcome, Since: at.UTC(), Detail: detail}
}

// status is the resume as status shows it; waitingFor is the engine's.
func (r *resumer) status(waitingFor string) *api.Resume {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return nil
	}
	c := *r.st
	if c.Outcome == api.ResumeLaunching && waitingFor != "" {
		c.Outcome = api.ResumeWaiting
	}
	return &c
}

// operatorActed ends a resume that waits to try again.
func (r *resumer) operatorActed() {
	r.one.Do(func() { close(r.end) })
}

func (r *resumer) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// resume runs consoled --resume; it returns when the resume is over.
func (s *Service) resume(ctx context.Context) {
	r := &s.resumer
	sess, err := s.store.LoggedOn()
	if err != nil {
		s.log.Error("resume: cannot read the session", "err", err)
		r.set("", api.ResumeFailed+": "+err.Error(), err.Error(), s.clock.Now())
		return
	}
	if sess.Show == "" {
		s.log.Info("resume: the console was logged off when it stopped; it stays off")
		r.set("", api.ResumeNothing, "", s.clock.Now())
		return
	}
	show := sess.Show
	s.log.Info("resume: launching the show this console was logged on to when it stopped", "show", show, "logged_on_since", sess.Since)
	pause := resumeRetry
	for {
		r.set(show, api.ResumeLaunching, "", s.clock.Now())
		tried := s.connectedPeers()
		err := s.launch(ctx, show, false)
		switch {
		case err == nil:
			outcome := api.ResumeJoined
			if s.engine.Status().Role == replication.RoleActive {
				outcome = api.ResumeActive
			}
			s.log.Info("resume: done", "show", show, "outcome", outcome)
			r.set(show, outcome, "", s.clock.Now())
			return
		case errors.Is(err, replication.ErrStale):
			s.log.Warn("resume: refused as stale; trying again when another console connects, or in a while", "show", show, "err", err, "retry_in", pause)
			r.set(show, api.ResumeStale, err.Error(), s.clock.Now())
		case errors.Is(err, replication.ErrRefused):
			s.log.Warn("resume: refused", "show", show, "err", err)
			r.set(show, api.ResumeRefused+": "+strings.TrimPrefix(err.Error(), "refused: "), err.Error(), s.clock.Now())
			return
		default:
			if ctx.Err() == nil {
				s.log.Error("resume: launch failed", "show", show, "err", err)
			}
			r.set(show, api.ResumeFailed+": "+err.Error(), err.Error(), s.clock.Now())
			return
		}
		if !s.waitForNewPeer(ctx, show, tried, pause) {
			return
		}
		pause = min(2*pause, resumeRetryMax)
	}
}

// waitForNewPeer waits until a console is connected that is not in
// before, or a connected console is active for show, or at most pause;
// false when the operator took over or the service stops. The second
// matters when every console was back before the try: a refusal because
// one of them had not launched yet would otherwise wait for a connection
// that never comes, and the console stay off beside a running show.
// Joining an active is never refused as stale (rule 4).
func (s *Service) waitForNewPeer(ctx context.Context, show string, before map[string]bool, pause time.Duration) bool {
	retry := s.clock.After(pause)
	for {
		for _, p := range s.engine.Status().Peers {
			if p.Connected && (!before[p.Console] || p.Role == replication.RoleActive && p.Show == show) {
				return true
			}
		}
		select {
		case <-s.resumer.wake:
		case <-retry:
			return true
		case <-s.resumer.end:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func (s *Service) connectedPeers() map[string]bool {
	out := map[string]bool{}
	for _, p := range s.engine.Status().Peers {
		if p.Connected {
			out[p.Console] = true
		}
	}
	return out
}
