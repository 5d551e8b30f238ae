package firmware

import (
	"context"
	"os"
	"sync"
	"time"
)

// panelParts are what watches the service from the outside: the observer
// of its status changes, the web panel fed by it, the metrics and the
// systemd notifications. The service's own files call into them through
// a handful of hooks (New, Run, the panel loop, updatePanel, submit).
type panelParts struct {
	obs     *observer
	hub     *panelHub
	metrics *metrics
	sd      *notifier
	stamps  faultStamps
	digests digestCache
	copies  CopySource
	started time.Time

	// probe carries the watchdog's questions to the panel loop, which
	// answers each after engineCheck, a call into the engine, returned.
	probe       chan chan struct{}
	engineCheck func()
}

func (s *Service) initPanelParts(opts Options) {
	s.started = time.Now()
	s.metrics = newMetrics(s)
	s.obs = newObserver(s.metrics.hooks())
	s.hub = newPanelHub(s)
	s.sd = &notifier{s: s}
	s.copies = opts.Copy
	if s.copies == nil {
		s.copies = engineCopy{}
	}
	s.probe = make(chan chan struct{})
	s.engineCheck = func() { s.engine.Status() }
}

// startPanelParts runs the observer's loop and the watchdog until ctx is
// done, and tells systemd the service is ready.
func (s *Service) startPanelParts(ctx context.Context, wg *sync.WaitGroup) {
	if s.webSrv != nil {
		s.webSrv.RegisterOnShutdown(s.hub.close) // ends the event streams, so that Shutdown need not wait for them
	}
	// Without a page to show it or systemd to tell, nobody reads the
	// observer: it does not run.
	if s.webSrv != nil || os.Getenv("NOTIFY_SOCKET") != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.hub.run(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sd.watchdog(ctx)
	}()
	s.sd.ready()
}

// notifyStopping tells systemd the service stops, until the returned
// function is called once the log-off is done.
func (s *Service) notifyStopping() (done func()) {
	ch := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s.sd.stopping(ch)
	}()
	return func() {
		close(ch)
		<-finished
	}
}

// answerProbe is the panel loop's side of the watchdog.
func (s *Service) answerProbe(reply chan struct{}) {
	s.engineCheck()
	close(reply)
}

// observeSubmit counts an edit's acknowledgement latency.
func (s *Service) observeSubmit(t0 time.Time, err error) {
	if err == nil {
		s.metrics.editAck.Observe(time.Since(t0).Seconds())
	}
}
