// Package firmware is the consoled service: it wires the board, the store and
// the replication engine together, runs the front panel (gestures in, LEDs
// out) and serves the control API and the status page.
package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"consoled/api"
	"consoled/board"
	"consoled/hal"
	"consoled/replication"
	"consoled/replication/store"
	"consoled/replication/wire"
)

// Options are the parts a test or bench may supply instead of the defaults.
type Options struct {
	// Logger defaults to a text logger on stderr at Config.LogLevel.
	Logger *slog.Logger
	// Clock defaults to the real clock. It drives gestures.
	Clock clockwork.Clock
	// Board, when set, is used instead of opening Config.Board. The service closes it.
	Board hal.Board
	// Timeouts of the control socket and the status page; zero fields
	// take their defaults.
	Timeouts Timeouts
	// Limits on their connections; zero fields take their defaults.
	Limits Limits
	// Copy, when set, reports the progress of an arriving full copy
	// instead of the default (copyprogress.go).
	Copy CopySource
}

// Service is one running console.
type Service struct {
	cfg    Config
	log    *slog.Logger
	clock  clockwork.Clock
	lock   *dataLock
	store  *store.Store
	board  hal.Board
	engine *replication.Engine
	key    wire.Key

	gestures *Gestures
	cmds     chan command
	barrier  chan chan []api.CommandResult
	faults   faults
	refresh  chan struct{}

	ctl, web       net.Listener
	ctlSrv, webSrv *http.Server
	remote         *remoteListener // control connections from the peer port (remote.go)
	remoteSrv      *http.Server
	streams        editStreams
	resumer        resumer
	panelParts     // web panel, metrics, systemd (panelparts.go)
	timeouts       Timeouts
	limits         Limits

	acked atomic.Uint64 // edits acknowledged through this console

	lastMu sync.Mutex // guards the last-show file
}

// New opens everything a console needs. On error nothing stays open.
func New(cfg Config, opts Options) (svc *Service, err error) {
	if opts.Logger == nil {
		opts.Logger = newLogger(cfg, os.Stderr)
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	opts.Timeouts.defaults()
	opts.Limits.defaults()
	made := noteStartFiles(cfg.Data)
	defer func() {
		if err != nil {
			made.undo() // runs last, after closeAll
		}
	}()
	s := &Service{
		cfg:      cfg,
		log:      opts.Logger,
		clock:    opts.Clock,
		cmds:     make(chan command, 64),
		barrier:  make(chan chan []api.CommandResult),
		refresh:  make(chan struct{}, 1),
		timeouts: opts.Timeouts,
		limits:   opts.Limits,
		remote:   newRemoteListener(),
		resumer:  resumer{end: make(chan struct{}), wake: make(chan struct{}, 1)},
	}
	s.faults.changed = s.refresh
	s.initPanelParts(opts)
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.Data, err)
	}
	if s.lock, err = lockData(cfg.Data); err != nil {
		return nil, err
	}
	if s.store, err = store.Open(cfg.Data, store.Options{Logger: s.log, LogRetain: cfg.LogRetain}); err != nil {
		return nil, err
	}
	s.board = opts.Board
	if s.board == nil {
		if s.board, err = board.OpenWith(cfg.Board, board.Options{Logger: s.log, Clock: s.clock}); err != nil {
			return nil, err
		}
	}
	key, saveKey, err := loadKey(cfg.NetworkKey)
	if err != nil {
		return nil, err
	}
	ack, _ := replication.ParseAckMode(cfg.Ack)
	grace, _ := time.ParseDuration(cfg.MasterGrace)
	heartbeat, _ := time.ParseDuration(cfg.Heartbeat) // "" is 0: the engine's default
	discovery := s.discoveryNIC()
	if s.engine, err = replication.New(replication.Options{
		ID: cfg.ID, Store: s.store, Logger: s.log, Clock: s.clock,
		Key: key, Listen: cfg.Listen, Peers: s.otherPeers(), Master: cfg.Master, MasterGrace: grace, Heartbeat: heartbeat, Ack: ack, Discovery: discovery,
		ProtocolVersion: uint16(cfg.ProtocolVersion), Control: s.remote.hand,
	}); err != nil {
		return nil, err
	}
	s.key = key
	if err := s.engine.Start(); err != nil {
		return nil, err
	}
	s.gestures = NewGestures(s.clock, HoldTime, func(g Gesture) { s.cmds <- command{gesture: g} })
	if s.ctl, err = listenUnix(cfg.Control); err != nil {
		return nil, err
	}
	s.ctl = s.limitConns(s.ctl, "control socket", s.limits.ControlConns, 0)
	// No WriteTimeout: a launch or a held press may take long before it
	// answers. Answers are small but for the dump, each of whose writes has
	// a deadline (handleDump); edit streams set their own.
	t := s.timeouts
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn) // accept errors, handler panics
	s.ctlSrv = &http.Server{Handler: s.controlAPI(), ReadHeaderTimeout: t.Header, ReadTimeout: t.Read, IdleTimeout: t.Idle, ErrorLog: errLog}
	s.remoteSrv = &http.Server{Handler: s.remoteAPI(), ReadHeaderTimeout: t.Header, ReadTimeout: t.Read, IdleTimeout: t.Idle,
		MaxHeaderBytes: 16 << 10, ErrorLog: errLog}
	if cfg.HTTP != "off" {
		if s.web, err = net.Listen("tcp", cfg.HTTP); err != nil {
			return nil, fmt.Errorf("--http %s: %w", cfg.HTTP, err)
		}
		s.web = s.limitConns(s.web, "status page", s.limits.StatusConns, s.limits.StatusConnsPerSource)
		s.webSrv = &http.Server{Handler: s.webUI(), ReadHeaderTimeout: t.Header, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle,
			MaxHeaderBytes: 16 << 10, ErrorLog: errLog}
	}
	// Written last: a start that failed leaves no key a second try would
	// take for a provisioned one.
	if created, err := saveKey(); err != nil {
		return nil, err
	} else if created {
		s.log.Info("created a new show network key; copy it to the other consoles (consolectl network-key)", "file", cfg.NetworkKey)
	}
	return s, nil
}

// discoveryNIC resolves --discovery: "auto" beacons on the board's NIC when
// the machine has it (the mock board's NIC does not exist, so a bench or
// `make run` console sends nothing onto whatever network the machine is on).
func (s *Service) discoveryNIC() string {
	switch s.cfg.Discovery {
	case "off":
		return ""
	case "auto":
		ifi, err := net.InterfaceByName(s.board.Link().Name())
		if err != nil || ifi.Flags&net.FlagMulticast == 0 {
			return ""
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ifi.Name
			}
		}
		s.log.Warn("no discovery: the NIC has no IPv4 address yet", "nic", ifi.Name)
		return ""
	}
	return s.cfg.Discovery
}

// ControlPath is the control socket's path.
func (s *Service) ControlPath() string { return s.cfg.Control }

// HTTPAddr is the status page's address, or "" when it is off.
func (s *Service) HTTPAddr() string {
	if s.web == nil {
		return ""
	}
	return s.web.Addr().String()
}

// listenUnix listens on path, replacing a socket left by a console that died
// but never one that still answers.
func listenUnix(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another consoled is listening there", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	// The socket controls the show: only the console's own user may use it.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

// Run serves until ctx is done, then logs off, closes the store and returns.
// A nil error means a clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	serve := func(srv *http.Server, l net.Listener, what string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("server stopped", "what", what, "err", err)
				cancel()
			}
		}()
	}
	serve(s.ctlSrv, s.ctl, "control API")
	serve(s.remoteSrv, s.limitConns(s.remote, "remote control", s.limits.RemoteConns, s.limits.RemoteConnsPerSource), "remote control")
	if s.webSrv != nil {
		serve(s.webSrv, s.web, "status page")
	}
	s.startPanelParts(ctx, &wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runCommands(ctx)
	}()
	s.log.Info("console started", "console", s.cfg.ID, "board", s.board.Name(), "data", s.cfg.Data,
		"control", s.cfg.Control, "http", s.HTTPAddr(), "listen", s.engine.ListenAddr(), "peers", s.cfg.Peers,
		"network_key", s.key.Fingerprint(), "remote_control", s.cfg.RemoteControl, "resume", s.cfg.Resume)
	if s.cfg.Resume {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.resume(ctx)
		}()
	}
	s.loop(ctx)

	// Shut down in the reverse order of the data's path: no new requests,
	// finish the ones in flight, log off (flushes), then close the store.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	s.ctlSrv.Shutdown(sctx)
	s.remoteSrv.Shutdown(sctx)
	s.streams.stop(sctx)
	if s.webSrv != nil {
		s.webSrv.Shutdown(sctx)
	}
	s.gestures.Stop()
	wg.Wait()
	stopped := s.notifyStopping()
	err := s.engine.Logoff(context.Background())
	stopped()
	if cerr := s.closeAll(); err == nil {
		err = cerr
	}
	s.log.Info("console stopped", "console", s.cfg.ID)
	return err
}

func (s *Service) closeAll() error {
	var errs []error
	// First: the engine's connection goroutines may wait in hand.
	s.remote.Close()
	if s.ctl != nil {
		s.ctl.Close()
		os.Remove(s.cfg.Control)
	}
	if s.web != nil {
		s.web.Close()
	}
	if s.engine != nil {
		errs = append(errs, s.engine.Close())
	}
	if s.board != nil {
		errs = append(errs, s.board.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Unlock())
	}
	return errors.Join(errs...)
}

// loop is the panel's event loop: buttons and link in, LEDs out.
func (s *Service) loop(ctx context.Context) {
	buttons := s.board.Buttons()
	links := s.board.Link().Changes()
	st := s.board.Link().State()
	s.engine.SetLink(st.Present && st.Up)
	s.updatePanel()
	// Faults reported by the network fade when their cause goes away, which
	// nothing announces: look again now and then.
	tick := s.clock.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
			s.updatePanel()
		case ev, ok := <-buttons:
			if !ok {
				buttons = nil
				continue
			}
			s.log.Debug("button", "event", ev.String())
			s.gestures.Feed(ev)
		case ls, ok := <-links:
			if !ok {
				links = nil
				continue
			}
			s.log.Info("link", "state", ls.String())
			s.engine.SetLink(ls.Present && ls.Up)
			s.updatePanel()
		case <-s.engine.Changed():
			s.updatePanel()
			s.resumer.poke()
		case <-s.refresh:
			s.updatePanel()
		case reply := <-s.probe:
			s.answerProbe(reply)
		case reply := <-s.barrier:
			// Take every edge already queued, so a press that returned has
			// had its gesture decided, then let the command worker answer
			// once it has carried out everything before this point.
			for drained := false; !drained; {
				select {
				case ev, ok := <-buttons:
					if !ok {
						buttons, drained = nil, true
						continue
					}
					s.gestures.Feed(ev)
				default:
					drained = true
				}
			}
			s.cmds <- command{reply: reply}
		}
	}
}

// panelState gathers what the LEDs show.
func (s *Service) panelState() PanelState {
	st := s.engine.Status()
	fault := s.faults.level()
	if len(st.ProtocolFaults) > 0 || st.Stale || len(st.Merges) > 0 {
		fault = max(fault, FaultBlink)
	}
	return PanelState{Role: st.Role, Syncing: st.Syncing, LinkUp: st.LinkUp, Fault: fault}
}

func (s *Service) updatePanel() {
	s.syncDamageFault()
	for name, want := range PanelLEDs(s.panelState()) {
		led, ok := s.board.LED(name)
		if !ok {
			continue
		}
		if led.State() == want {
			continue
		}
		if err := led.Set(want); err != nil {
			s.log.Error("LED", "led", name, "err", err)
		}
	}
	s.hub.poke()
}

// launch logs on to show and remembers it for the LAUNCH button.
func (s *Service) launch(ctx context.Context, show string, force bool) error {
	if err := s.engine.Launch(ctx, show, force); err != nil {
		s.faults.poke() // a damaged copy found by the launch's check blinks FAULT
		return err
	}
	s.setLastShow(show)
	return nil
}

func (s *Service) lastShowPath() string { return filepath.Join(s.cfg.Data, "last-show") }

func (s *Service) setLastShow(show string) {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	if err := writeFileAtomic(s.lastShowPath(), []byte(show+"\n"), 0o644); err != nil {
		s.log.Warn("cannot remember the last show", "err", err)
	}
}

// lastShow is the show the LAUNCH button opens: the last one launched here,
// else the configured default.
func (s *Service) lastShow() string {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	b, err := os.ReadFile(s.lastShowPath())
	if name := strings.TrimSpace(string(b)); err == nil && store.ValidateShowName(name) == nil {
		return name
	}
	return s.cfg.Show
}

// submit records edits and keeps the FAULT LED in step with the disk.
func (s *Service) submit(ctx context.Context, ops []store.Op) (uint64, error) {
	t0 := time.Now()
	seq, err := s.engine.Submit(ctx, ops)
	s.observeSubmit(t0, err)
	switch {
	case err == nil:
		s.acked.Add(uint64(len(ops)))
		s.faults.clear("disk")
	case errors.Is(err, store.ErrDiskFull):
		s.faults.set("disk", FaultBlink, err.Error())
	case errors.Is(err, replication.ErrBadInput), errors.Is(err, replication.ErrNotLoggedOn), errors.Is(err, replication.ErrRefused),
		errors.Is(err, replication.ErrNoActive), errors.Is(err, replication.ErrOutcomeUnknown), errors.Is(err, context.Canceled):
	default:
		s.faults.set("disk", FaultBlink, err.Error())
	}
	return seq, err
}
