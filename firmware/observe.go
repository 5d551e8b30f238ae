package firmware

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"consoled/api"
	"consoled/replication/store"
)

// The observer watches the console's status change, as the web panel and
// the metrics see it, and tells what happened: launches and log-offs,
// failovers and how long the show had no active, merges, archives, full
// copies, faults, and when each console was last heard. The engine reports
// its state, not its history; this is the history as seen from here.

// Event is one line of the web panel's timeline.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // launch, logoff, failover, reconnect, merge, archive, copy
	Text   string    `json:"text"`
	Detail string    `json:"detail,omitempty"`
}

// maxEvents bounds the timeline: a show day's worth, not a log.
const maxEvents = 200

// FaultRecord is one fault as the web panel lists it: once, however often
// it came back.
type FaultRecord struct {
	Kind    string    `json:"kind"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	First   time.Time `json:"first"`   // first seen
	Last    time.Time `json:"last"`    // last seen
	Times   int       `json:"times"`   // how often it appeared
	Places  int       `json:"places"`  // how many places report it now
	Current bool      `json:"current"` // lit now
}

// observerHooks are told what the observer derives; the metrics count it.
type observerHooks struct {
	failover func(gap time.Duration) // another console became the active
	noActive func(gap time.Duration) // the show had no active this long
	merge    func()
	fullSync func(took time.Duration, bytes int64)
}

type observer struct {
	mu    sync.Mutex
	hooks observerHooks

	events []Event                 // oldest first
	heard  map[string]time.Time    // console → last seen connected
	faults map[string]*FaultRecord // kind and message → record

	role, show string
	active     string    // the show's active as last seen; "" none
	lost       string    // the active that went away while no other is seen
	lostAt     time.Time // when it was first missed
	merges     map[string]bool
	archives   map[string]bool // nil until the first listing
	syncing    bool
	copyStart  time.Time
	copyFrom   string
	copyBytes  int64
}

func newObserver(h observerHooks) *observer {
	nop := func(time.Duration) {}
	if h.failover == nil {
		h.failover = nop
	}
	if h.noActive == nil {
		h.noActive = nop
	}
	if h.merge == nil {
		h.merge = func() {}
	}
	if h.fullSync == nil {
		h.fullSync = func(time.Duration, int64) {}
	}
	return &observer{hooks: h, heard: map[string]time.Time{}, faults: map[string]*FaultRecord{}, merges: map[string]bool{}, role: "off"}
}

// activeOf names the show's active as st sees it: this console, the one it
// follows, or a connected peer active for the same show.
func activeOf(st api.Status) string {
	if st.Show == "" || st.Role == "off" {
		return ""
	}
	if st.Role == "active" {
		return st.Console
	}
	if st.Active != "" {
		return st.Active
	}
	for _, p := range st.Peers {
		if p.Connected && p.Role == "active" && p.Show == st.Show {
			return p.Console
		}
	}
	return ""
}

// observe takes one status seen at now. archives is the store's list, or
// nil when it was not read this time.
func (o *observer) observe(now time.Time, st api.Status, archives []store.Archive) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range st.Peers {
		if p.Connected {
			o.heard[p.Console] = now
		}
	}
	o.heard[st.Console] = now

	o.copies(now, st)
	o.roles(now, st)
	o.failovers(now, st)
	o.merged(now, st)
	o.archived(now, archives)
	o.faultsSeen(now, st.Faults)
}

func (o *observer) add(now time.Time, kind, text, detail string) {
	o.events = append(o.events, Event{Time: now.UTC(), Kind: kind, Text: text, Detail: detail})
	if len(o.events) > maxEvents {
		o.events = o.events[len(o.events)-maxEvents:]
	}
}

func (o *observer) roles(now time.Time, st api.Status) {
	on := st.Role != "off" && st.Show != ""
	was := o.role != "off" && o.show != ""
	if was && (!on || st.Show != o.show) {
		o.add(now, "logoff", fmt.Sprintf("%s logged off show %s", st.Console, o.show), "")
		o.active, o.lost = "", ""
	}
	if on && (!was || st.Show != o.show) {
		detail := fmt.Sprintf("show ID %s, epoch %s, seq %d", st.ShowID, st.Epoch, st.Seq)
		switch {
		case st.Role == "active":
			o.add(now, "launch", fmt.Sprintf("%s launched show %s as its active server", st.Console, st.Show), detail)
		case activeOf(st) != "":
			o.add(now, "launch", fmt.Sprintf("%s joined show %s as a backup of %s", st.Console, st.Show, activeOf(st)), detail)
		default:
			o.add(now, "launch", fmt.Sprintf("%s joined show %s as a backup", st.Console, st.Show), detail)
		}
	}
	o.role, o.show = st.Role, st.Show
	if !on {
		o.role, o.show = "off", ""
	}
}

func (o *observer) failovers(now time.Time, st api.Status) {
	cur := activeOf(st)
	if st.Role == "off" || st.Show == "" {
		o.active, o.lost = "", ""
		return
	}
	switch {
	case cur == "" && o.active != "":
		o.lost, o.lostAt = o.active, now
	case cur != "" && cur != o.active:
		prev, gap := o.active, time.Duration(0)
		if prev == "" && o.lost != "" {
			prev, gap = o.lost, now.Sub(o.lostAt)
		}
		switch {
		case prev == "":
			// The first active seen since the launch: no failover.
		case prev == cur:
			o.hooks.noActive(gap)
			o.add(now, "reconnect", fmt.Sprintf("%s is the active again; the show had no active for %s", cur, seconds(gap)), "")
		default:
			o.hooks.failover(gap)
			o.hooks.noActive(gap)
			o.add(now, "failover", fmt.Sprintf("%s took over from %s (%s); the show had no active for %s",
				cur, prev, whyGone(st, prev), seconds(gap)), fmt.Sprintf("epoch %s from seq %d", st.Epoch, epochStart(st)))
		}
		o.lost = ""
	}
	o.active = cur
}

// whyGone says what became of a former active, as far as this console knows.
func whyGone(st api.Status, id string) string {
	if id == st.Console {
		return "this console lost the show"
	}
	for _, p := range st.Peers {
		if p.Console != id {
			continue
		}
		switch {
		case !p.Connected:
			return id + " went silent"
		case p.Role == "off":
			return id + " logged off"
		default:
			return id + " stepped down"
		}
	}
	return id + " left"
}

func epochStart(st api.Status) uint64 {
	if n := len(st.Epochs); n > 0 {
		return st.Epochs[n-1].FirstSeq
	}
	return 0
}

func (o *observer) merged(now time.Time, st api.Status) {
	for _, m := range st.Merges {
		key := m.With + "\x00" + m.Time.String()
		if o.merges[key] {
			continue
		}
		o.merges[key] = true
		o.hooks.merge()
		text := fmt.Sprintf("merged %s's copy: %d objects taken, %d changed on both sides (this show's version kept, %s's archived on it)",
			m.With, m.Merged, len(m.Conflicts), m.With)
		if m.Archive != "" {
			text = fmt.Sprintf("%s's show replaced this copy after a merge: %d objects kept only in archive %s", m.With, m.Unmatched, m.Archive)
		}
		detail := fmt.Sprintf("common seq %d", m.Common)
		if len(m.Conflicts) > 0 {
			detail += "; conflicts: " + strings.Join(m.Conflicts, ", ")
		}
		o.add(now, "merge", text, detail)
	}
}

func (o *observer) archived(now time.Time, list []store.Archive) {
	if list == nil {
		return
	}
	first := o.archives == nil
	if first {
		o.archives = map[string]bool{}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Time.Before(list[j].Time) })
	for _, a := range list {
		if o.archives[a.Name] {
			continue
		}
		o.archives[a.Name] = true
		if first {
			continue // kept before this run
		}
		o.add(now, "archive", fmt.Sprintf("kept %s's copy of show %s as archive %s: %s", a.Console, a.Show, a.Name, a.Why),
			fmt.Sprintf("show ID %s, %d edits; consolectl restore %s", a.ShowID, a.Seq, a.Name))
	}
}

// copies follows a join: the engine says Syncing for the whole of it, a
// catch-up too; a full copy is one whose bytes were seen arriving.
func (o *observer) copies(now time.Time, st api.Status) {
	if st.Syncing && !o.syncing {
		o.copyStart, o.copyFrom, o.copyBytes = now, activeOf(st), 0
	}
	if st.Syncing && st.Copy != nil && st.Copy.Bytes > 0 {
		if o.copyBytes == 0 {
			if st.Copy.From != "" {
				o.copyFrom = st.Copy.From
			}
			o.add(now, "copy", fmt.Sprintf("%s is receiving a full copy of show %s from %s", st.Console, st.Show, orSomeone(o.copyFrom)), "")
		}
		o.copyBytes = max(o.copyBytes, st.Copy.Bytes)
	}
	if !st.Syncing && o.syncing && o.copyBytes > 0 {
		took := now.Sub(o.copyStart)
		if st.Role == "active" || st.Role == "backup" {
			o.hooks.fullSync(took, o.copyBytes)
			o.add(now, "copy", fmt.Sprintf("%s received a full copy of show %s (%s in %s)", st.Console, st.Show, sizeText(o.copyBytes), seconds(took)),
				fmt.Sprintf("from %s; seq %d", orSomeone(o.copyFrom), st.Seq))
		} else {
			o.add(now, "copy", fmt.Sprintf("the full copy to %s ended unfinished after %s", st.Console, seconds(took)), "")
		}
	}
	o.syncing = st.Syncing
}

func orSomeone(id string) string {
	if id == "" {
		return "another console"
	}
	return id
}

func (o *observer) faultsSeen(now time.Time, fs []api.Fault) {
	seen := map[string]bool{}
	for _, f := range fs {
		key := f.Kind + "\x00" + f.Message
		seen[key] = true
		r := o.faults[key]
		if r == nil {
			r = &FaultRecord{Kind: f.Kind, Message: f.Message, First: now.UTC()}
			if !f.Since.IsZero() {
				r.First = f.Since.UTC()
			}
			o.faults[key] = r
		}
		if !r.Current {
			r.Times++
		}
		r.Current, r.Level, r.Last = true, f.Level, now.UTC()
		r.Places = max(f.Count, 1)
	}
	for key, r := range o.faults {
		if !seen[key] {
			r.Current, r.Places = false, 0
		}
	}
}

// timeline returns the events, newest first.
func (o *observer) timeline() []Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Event, len(o.events))
	for i, e := range o.events {
		out[len(out)-1-i] = e
	}
	return out
}

// faultList returns every fault seen in this run: the current ones first,
// then by when they were last seen.
func (o *observer) faultList() []FaultRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]FaultRecord, 0, len(o.faults))
	for _, r := range o.faults {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Current != out[j].Current {
			return out[i].Current
		}
		if !out[i].Last.Equal(out[j].Last) {
			return out[i].Last.After(out[j].Last)
		}
		return out[i].Message < out[j].Message
	})
	return out
}

// lastHeard is when a console was last seen connected (zero: never).
func (o *observer) lastHeard(id string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.heard[id]
}

func seconds(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d < 2*time.Minute:
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
