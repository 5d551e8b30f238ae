package firmware

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"consoled/api"
	"consoled/hal"
	"consoled/replication/store"
)

// The web front panel: one page (web/) that draws what the panel view
// holds, kept live by server-sent events. The view is rebuilt when the
// front panel's LEDs are (updatePanel pokes it, on the same engine, link
// and fault changes), and twice a second besides for the seqs, the copy's
// progress and the ages of what was last heard.

// panelView is what the page shows, sent whole on every change.
type panelView struct {
	Console  string        `json:"console"`
	Headline string        `json:"headline"` // the situation in words
	Active   string        `json:"active"`   // the show's active; "" none
	Status   api.Status    `json:"status"`
	Network  []NetRow      `json:"network"`
	Timeline []Event       `json:"timeline"`
	Faults   []FaultRecord `json:"faults"`
	Copy     *copyView     `json:"copy"`
	Blink    blinkView     `json:"blink"`
}

// NetRow is one console of the show network as this one sees it.
type NetRow struct {
	Console   string    `json:"console"`
	Self      bool      `json:"self"`
	Role      string    `json:"role"`
	Show      string    `json:"show"`
	Seq       uint64    `json:"seq"`
	Lag       int64     `json:"lag"` // edits behind the active; -1 when not on the active's show or no active is known
	Active    bool      `json:"active"`
	Connected bool      `json:"connected"`
	Link      string    `json:"link"`       // up, down; "" when this console cannot tell
	LastHeard time.Time `json:"last_heard"` // zero while connected (heard now) or never heard
}

type copyView struct {
	api.Copy
	Rate float64 `json:"rate"`    // bytes per second over the last seconds
	Left float64 `json:"left_s"`  // seconds left; -1 when not known
	Pct  float64 `json:"percent"` // -1 when the total is not known
}

// blinkView is the board's blink rhythm (hal.BlinkClock), for the page to
// blink in phase: lit while floor((now-epoch)/half) is odd.
type blinkView struct {
	EpochMS int64 `json:"epoch_ms"`
	HalfMS  int64 `json:"half_ms"`
}

// panelHub builds the view and hands it to the event streams.
type panelHub struct {
	s     *Service
	poked chan struct{}
	done  chan struct{} // closed when the service stops serving the page

	mu   sync.Mutex
	data []byte        // the view's JSON
	ver  uint64        // counts changes of data
	next chan struct{} // closed at the next change

	rate        copyRate
	lastListing time.Time
	lastKey     string // what, changing, makes the archives be listed again
	closeOnce   sync.Once
}

func newPanelHub(s *Service) *panelHub {
	return &panelHub{s: s, poked: make(chan struct{}, 1), done: make(chan struct{}), next: make(chan struct{})}
}

// poke asks for a rebuild; it never blocks the panel loop.
func (h *panelHub) poke() {
	select {
	case h.poked <- struct{}{}:
	default:
	}
}

func (h *panelHub) close() { h.closeOnce.Do(func() { close(h.done) }) }

// run rebuilds the view until ctx is done.
func (h *panelHub) run(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		h.rebuild(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-h.poked:
		case <-tick.C:
		}
	}
}

// rebuild observes the status once and publishes the view if it changed.
func (h *panelHub) rebuild(now time.Time) {
	st := h.s.status()
	var archives []store.Archive
	key := fmt.Sprintf("%s|%s|%v|%d|%d", st.Role, st.Show, st.Syncing, len(st.Merges), st.Seq)
	if key != h.lastKey || now.Sub(h.lastListing) > 5*time.Second {
		if list, err := h.s.store.Archives(); err == nil {
			archives = list
			if archives == nil {
				archives = []store.Archive{}
			}
		}
		h.lastKey, h.lastListing = key, now
	}
	h.s.obs.observe(now, st, archives)
	v := h.view(now, st)
	h.s.sd.setStatus(v.Headline)
	data, err := json.Marshal(v)
	if err != nil {
		h.s.log.Error("web panel view", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if bytes.Equal(data, h.data) {
		return
	}
	h.data = data
	h.ver++
	close(h.next)
	h.next = make(chan struct{})
}

// current returns the view's JSON, its version and a channel closed at the
// next change.
func (h *panelHub) current() ([]byte, uint64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.data, h.ver, h.next
}

func (h *panelHub) view(now time.Time, st api.Status) panelView {
	v := panelView{Console: st.Console, Active: activeOf(st), Timeline: h.s.obs.timeline(), Faults: h.s.obs.faultList()}
	// What changes on every read and is no news stays out, so that an
	// unchanged console sends nothing.
	st.Descriptors = api.Descriptors{}
	v.Status = st
	v.Headline = headline(st, v.Active)
	v.Network = networkRows(st, now, h.s.obs.lastHeard)
	rate, left := h.rate.add(now, st.Copy)
	if st.Copy != nil {
		c := &copyView{Copy: *st.Copy, Rate: rate, Left: -1, Pct: -1}
		if left >= 0 {
			c.Left = left.Seconds()
		}
		if st.Copy.Total > 0 {
			c.Pct = min(100, 100*float64(st.Copy.Bytes)/float64(st.Copy.Total))
		}
		v.Copy = c
	}
	epoch, half := h.s.blinkClock()
	v.Blink = blinkView{EpochMS: epoch.UnixMilli(), HalfMS: half.Milliseconds()}
	return v
}

// blinkClock is the board's blink rhythm, or the service's own for a board
// that does not say.
func (s *Service) blinkClock() (time.Time, time.Duration) {
	if bc, ok := s.board.(hal.BlinkClock); ok {
		return bc.BlinkClock()
	}
	return s.started, hal.BlinkHalfPeriod
}

// headline tells a technician the situation in one sentence.
func headline(st api.Status, active string) string {
	switch {
	case st.Role == "off" || st.Show == "":
		if st.WaitingFor != "" {
			return fmt.Sprintf("%s is waiting for the master console %s to launch", st.Console, st.WaitingFor)
		}
		return fmt.Sprintf("%s is not logged on to a show", st.Console)
	case st.HandOver != nil:
		return fmt.Sprintf("%s is handing show %s over to a backup before it logs off", st.Console, st.Show)
	case st.Role == "active":
		return fmt.Sprintf("%s (this console) is the active server of show %s", st.Console, st.Show)
	case st.Role == "syncing" && active != "":
		return fmt.Sprintf("%s is receiving show %s from the active server %s", st.Console, st.Show, active)
	case active != "":
		return fmt.Sprintf("%s is the active server of show %s; %s is a backup", active, st.Show, st.Console)
	}
	return fmt.Sprintf("Show %s has no active server right now; %s is a backup", st.Show, st.Console)
}

// networkRows lists every console this one knows, itself first. heard,
// when not nil, tells when a disconnected console was last seen.
func networkRows(st api.Status, now time.Time, heard func(string) time.Time) []NetRow {
	active := activeOf(st)
	activeSeq, known := uint64(0), false
	if active == st.Console {
		activeSeq, known = st.Seq, true
	}
	for _, p := range st.Peers {
		if p.Console == active {
			activeSeq, known = p.Seq, true
		}
	}
	lag := func(show, role string, seq uint64) int64 {
		if !known || show != st.Show || role == "off" {
			return -1
		}
		if seq >= activeSeq {
			return 0
		}
		return int64(activeSeq - seq)
	}
	rows := []NetRow{{
		Console: st.Console, Self: true, Role: st.Role, Show: st.Show, Seq: st.Seq, Lag: lag(st.Show, st.Role, st.Seq),
		Active: active == st.Console && active != "", Connected: true, Link: st.Link,
	}}
	peers := append([]api.Peer(nil), st.Peers...)
	sort.Slice(peers, func(i, j int) bool { return peers[i].Console < peers[j].Console })
	for _, p := range peers {
		r := NetRow{Console: p.Console, Role: p.Role, Show: p.Show, Seq: p.Seq, Lag: lag(p.Show, p.Role, p.Seq),
			Active: p.Console == active, Connected: p.Connected}
		if !p.Connected {
			r.Lag = -1
			if heard != nil {
				r.LastHeard = heard(p.Console)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// serveEvents streams the view as server-sent events: the current one at
// once, then every change. The server's WriteTimeout would end a stream
// after its first 30 s, so each write gets a deadline of its own instead,
// and a comment every 15 s finds a client that went away.
func (h *panelHub) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The server's read deadline would end the stream too: nothing more is
	// read from a client after its request.
	rc.SetReadDeadline(time.Time{})
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(h.s.timeouts.Write))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	var sent uint64
	for {
		data, ver, next := h.current()
		if ver != sent && data != nil {
			msg := fmt.Appendf(nil, "data: {\"now_ms\":%d,\"view\":%s}\n\n", time.Now().UnixMilli(), data)
			if !write(msg) {
				return
			}
			sent = ver
		}
		select {
		case <-next:
		case <-keepAlive.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		}
	}
}

// serveView answers the view once, as JSON (for scripts and for a page
// that reloads).
func (h *panelHub) serveView(w http.ResponseWriter, r *http.Request) {
	data, _, _ := h.current()
	if data == nil {
		writeErrorKind(w, api.KindUnavailable, "the console is starting; try again in a moment")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(data)
}
