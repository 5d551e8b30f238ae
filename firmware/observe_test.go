package firmware

import (
	"strings"
	"testing"
	"time"

	"consoled/api"
	"consoled/replication/store"
)

// The observer tells a launch, a failover with how long the show had no
// active, a merge and an archive once each, from status changes alone.
func TestObserverTimeline(t *testing.T) {
	var failovers, merges int
	var gaps []time.Duration
	var synced []int64
	o := newObserver(observerHooks{
		failover: func(time.Duration) { failovers++ },
		noActive: func(d time.Duration) { gaps = append(gaps, d) },
		merge:    func() { merges++ },
		fullSync: func(_ time.Duration, n int64) { synced = append(synced, n) },
	})
	t0 := time.Date(2026, 3, 14, 19, 30, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	peer := func(id, role string, connected bool) api.Peer {
		return api.Peer{Console: id, Role: role, Show: "demo", Seq: 7, Connected: connected}
	}
	st := api.Status{Console: "desk-2", Role: "off"}
	o.observe(at(0), st, []store.Archive{{Name: "old", Time: t0}})

	st.Role, st.Show, st.Syncing, st.Active = "syncing", "demo", true, "desk-1"
	st.Peers = []api.Peer{peer("desk-1", "active", true)}
	st.Copy = &api.Copy{From: "desk-1", Bytes: 5 << 20}
	o.observe(at(100), st, nil)
	st.Role, st.Syncing, st.Copy = "backup", false, nil
	o.observe(at(1100), st, nil)

	// desk-1 goes silent: no active for 400 ms, then this console takes over.
	st.Active = ""
	st.Peers = []api.Peer{peer("desk-1", "active", false)}
	o.observe(at(2000), st, nil)
	st.Role = "active"
	o.observe(at(2400), st, nil)
	o.observe(at(2500), st, nil) // nothing new

	st.Merges = []api.Merge{{With: "desk-3", Time: at(3000), Common: 5, Merged: 2, Conflicts: []string{"cue/1"}}}
	o.observe(at(3000), st, []store.Archive{{Name: "old", Time: t0}, {Name: "demo-x", Show: "demo", Console: "desk-2", Time: at(3000), Why: "diverged"}})
	o.observe(at(3100), st, []store.Archive{{Name: "old", Time: t0}, {Name: "demo-x", Show: "demo", Console: "desk-2", Time: at(3000), Why: "diverged"}})

	st.Role, st.Show = "off", ""
	o.observe(at(4000), st, nil)

	var kinds []string
	var texts []string
	for _, e := range o.timeline() {
		kinds = append(kinds, e.Kind)
		texts = append(texts, e.Text)
	}
	want := []string{"logoff", "archive", "merge", "failover", "copy", "launch", "copy"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("timeline kinds %v, want %v:\n%s", kinds, want, strings.Join(texts, "\n"))
	}
	if !strings.Contains(texts[3], "desk-2 took over from desk-1 (desk-1 went silent); the show had no active for 0.40 s") {
		t.Errorf("failover: %q", texts[3])
	}
	if !strings.Contains(texts[4], "received a full copy of show demo (5.0 MiB in 1.00 s)") {
		t.Errorf("copy: %q", texts[4])
	}
	if failovers != 1 || merges != 1 || len(gaps) != 1 || gaps[0] != 400*time.Millisecond || len(synced) != 1 || synced[0] != 5<<20 {
		t.Errorf("hooks: failovers %d merges %d gaps %v synced %v", failovers, merges, gaps, synced)
	}
	if h := o.lastHeard("desk-1"); !h.Equal(at(1100)) {
		t.Errorf("desk-1 last heard %v, want %v", h, at(1100))
	}
}

// A fault is listed once however often it comes back, with the time it
// first came, how often it came, and how many places report it now.
func TestObserverFaults(t *testing.T) {
	o := newObserver(observerHooks{})
	t0 := time.Date(2026, 3, 14, 19, 30, 0, 0, time.UTC)
	f := api.Fault{Kind: "protocol", Level: "blink", Message: "desk-9 speaks protocol 9", Since: t0, Count: 2}
	o.observe(t0.Add(time.Second), api.Status{Role: "off", Faults: []api.Fault{f}}, nil)
	o.observe(t0.Add(2*time.Second), api.Status{Role: "off"}, nil)
	o.observe(t0.Add(3*time.Second), api.Status{Role: "off", Faults: []api.Fault{f}}, nil)
	got := o.faultList()
	if len(got) != 1 {
		t.Fatalf("faults %+v", got)
	}
	r := got[0]
	if r.Times != 2 || !r.First.Equal(t0) || !r.Last.Equal(t0.Add(3*time.Second)) || !r.Current || r.Places != 2 {
		t.Errorf("fault record %+v", r)
	}
}

// The status lists a fault reported from several places once, with a
// count, and with the time the service first saw it when the engine gives
// none; one that went and came back is new.
func TestFaultStamps(t *testing.T) {
	var fs faultStamps
	t0 := time.Date(2026, 3, 14, 19, 30, 0, 0, time.UTC)
	msg := api.Fault{Kind: "protocol", Level: "blink", Message: "desk-9 speaks protocol 9"}
	other := api.Fault{Kind: "disk", Level: "steady", Message: "disk full", Since: t0.Add(-time.Hour)}
	got := fs.stamp(t0, []api.Fault{other, msg, msg, msg})
	if len(got) != 2 || got[1].Count != 3 || !got[1].Since.Equal(t0) || got[0].Count != 0 || !got[0].Since.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("stamped %+v", got)
	}
	if got := fs.stamp(t0.Add(time.Second), []api.Fault{msg}); !got[0].Since.Equal(t0) || got[0].Count != 0 {
		t.Errorf("later %+v", got)
	}
	fs.stamp(t0.Add(2*time.Second), nil)
	if got := fs.stamp(t0.Add(3*time.Second), []api.Fault{msg}); !got[0].Since.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("a fault that came back keeps its old time: %+v", got)
	}
}
