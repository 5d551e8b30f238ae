package e2e

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"consoled/api"
)

// resumeNetwork prepares n consoles on fixed loopback addresses, each
// knowing all the others, started with --resume: a console restarted after
// a kill comes back on its address, where the others look for it.
func resumeNetwork(t *testing.T, n int, key string) []*console {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	var cs []*console
	for i := range n {
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		cs = append(cs, newConsole(t, fmt.Sprintf("desk-%d", i+1), "--network-key", key, "--resume",
			"--listen", addrs[i], "--peers", strings.Join(peers, ",")))
	}
	return cs
}

// startAll starts the consoles at once.
func startAll(cs []*console) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.start()
		}()
	}
	wg.Wait()
}

// killAll kills the consoles at the same moment, as a power cut does.
func killAll(t *testing.T, cs []*console) {
	t.Helper()
	for _, c := range cs {
		syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL)
	}
	for _, c := range cs {
		<-c.exited
	}
}

// waitResume waits until c's resume has the outcome, and returns its status.
func waitResume(t *testing.T, c *console, outcome string) api.Status {
	t.Helper()
	var st api.Status
	waitFor(t, fmt.Sprintf("%s's resume to be %q", c.id, outcome), 30*time.Second, func() bool {
		st = c.status()
		return st.Resume != nil && st.Resume.Outcome == outcome
	})
	return st
}

// kill -9 of a backup and then of the active, each restarted with
// --resume: each comes back on the show as a backup holding every
// acknowledged edit, made before and while it was gone.
func TestResumeAfterKill(t *testing.T) {
	cs := resumeNetwork(t, 3, newKey(t))
	for _, c := range cs {
		c.start()
	}
	launchAll(t, cs, "demo")
	want := map[string]string{}
	set := recorder(want)
	for i := 0; i < 10; i++ {
		set(cs[i%3], fmt.Sprintf("cue/%d", i), "before")
	}

	backup := cs[2]
	backup.kill()
	set(cs[0], "cue/while-desk-3-was-gone", "x")
	backup.start()
	st := waitResume(t, backup, api.ResumeJoined)
	if st.Role != "backup" || st.Active != "desk-1" || st.Resume.Show != "demo" {
		t.Fatalf("desk-3 resumed as %s following %q (resume %+v)", st.Role, st.Active, st.Resume)
	}
	set(backup, "cue/from-desk-3", "after its resume")
	hasAll(t, "the show after desk-3 resumed", waitConverged(t, cs), want)

	active := cs[0]
	active.kill()
	next := waitActiveAmong(t, cs[1:])
	set(next, "cue/while-desk-1-was-gone", "x")
	active.start()
	st = waitResume(t, active, api.ResumeJoined)
	if st.Role != "backup" || st.Active != next.id {
		t.Fatalf("desk-1 resumed as %s following %q, want a backup of %s (rule 4)", st.Role, st.Active, next.id)
	}
	hasAll(t, "the show after desk-1 resumed", waitConverged(t, cs), want)
	active.waitLog(5*time.Second, "resume: launching the show this console was logged on to when it stopped")
	noArchives(t, cs, "demo", "every resumed copy was a prefix of the show")
}

// All three killed at once and started again at once, with --resume: every
// copy's record names the others as consoles that may have carried on,
// and once all are back the guard lets the copy holding the most launch,
// never forced; the others join it. One active, nothing lost.
func TestResumeAllKilledAtOnce(t *testing.T) {
	cs := resumeNetwork(t, 3, newKey(t))
	for _, c := range cs {
		c.start()
	}
	launchAll(t, cs, "demo")
	want := map[string]string{}
	set := recorder(want)
	for i := 0; i < 9; i++ {
		set(cs[i%3], fmt.Sprintf("cue/%d", i), fmt.Sprintf("from %s", cs[i%3].id))
	}
	killAll(t, cs)
	startAll(cs)
	active := waitActiveAmong(t, cs)
	for _, c := range cs {
		outcome := api.ResumeJoined
		if c == active {
			outcome = api.ResumeActive
		}
		waitResume(t, c, outcome)
	}
	hasAll(t, "the show after all three resumed", waitConverged(t, cs), want)
	noArchives(t, cs, "demo", "the copies were one show")
	for _, c := range cs {
		if strings.Contains(c.log.String(), "forced launch") {
			t.Fatalf("%s forced a launch:\n%s", c.id, c.log.String())
		}
		// A whole show coming back is routine: the consoles that asked
		// each other for a newer copy in vain do not warn of it; only the
		// first back, refused while alone, says so.
		for _, l := range warnings(c.log.String()) {
			if !strings.Contains(l, "resume: refused as stale") {
				t.Errorf("%s warned while the show came back: %s", c.id, l)
			}
		}
	}
}

// The whole show killed at once. desk-3 had died earlier and missed edits:
// restarted alone, its resume is refused as stale (the others may have
// carried on) and FAULT blinks. Once the others are back too, nobody is
// missing: the copy holding the most launches, never forced, and the
// others join it with nothing lost and nothing archived.
func TestResumeStaleGuard(t *testing.T) {
	cs := resumeNetwork(t, 3, newKey(t))
	for _, c := range cs {
		c.start()
	}
	launchAll(t, cs, "demo")
	want := map[string]string{}
	set := recorder(want)
	for i := 0; i < 5; i++ {
		set(cs[i%3], fmt.Sprintf("cue/%d", i), "all three")
	}
	waitConverged(t, cs)
	cs[2].kill()
	for i := 0; i < 5; i++ {
		set(cs[i%2], fmt.Sprintf("cue/late/%d", i), "desk-1 and desk-2 only")
	}
	waitConverged(t, cs[:2])
	killAll(t, cs[:2])

	late := cs[2]
	late.start()
	st := waitResume(t, late, api.ResumeStale)
	if st.Role != "off" || !st.Stale || st.LEDs["fault"] != "blink" || !strings.Contains(st.Resume.Detail, "may be outdated") {
		t.Fatalf("desk-3 alone: role %s stale %v fault %s resume %+v", st.Role, st.Stale, st.LEDs["fault"], st.Resume)
	}

	startAll(cs[:2])
	active := waitActiveAmong(t, cs)
	if active == late {
		t.Fatal("desk-3, whose copy missed edits, became the active")
	}
	for _, c := range cs {
		outcome := api.ResumeJoined
		if c == active {
			outcome = api.ResumeActive
		}
		waitResume(t, c, outcome)
	}
	hasAll(t, "the show after the whole show resumed", waitConverged(t, cs), want)
	noArchives(t, cs, "demo", "every copy was a prefix of the one that launched")
	waitFor(t, "desk-3's FAULT to stop blinking", 10*time.Second, func() bool { return late.status().LEDs["fault"] == "off" })
	for _, c := range cs {
		if strings.Contains(c.log.String(), "forced launch") {
			t.Fatalf("%s forced a launch:\n%s", c.id, c.log.String())
		}
	}
}

// A console logged off before the kill (or stopped with SIGTERM, which
// logs off) stays off when it is started with --resume.
func TestResumeLoggedOffStaysOff(t *testing.T) {
	cs := resumeNetwork(t, 2, newKey(t))
	for _, c := range cs {
		c.start()
	}
	launchAll(t, cs, "demo")
	cs[0].must("set", "cue/1", "x")

	off := cs[1]
	off.must("logoff")
	off.kill()
	off.start()
	if st := waitResume(t, off, api.ResumeNothing); st.Role != "off" || st.Resume.Show != "" {
		t.Fatalf("a console logged off before the kill: role %s, resume %+v", st.Role, st.Resume)
	}
	off.waitLog(5*time.Second, "resume: the console was logged off when it stopped; it stays off")
	off.must("launch", "demo") // the operator's launch is as ever
	if code := off.stop(); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	off.start()
	if st := waitResume(t, off, api.ResumeNothing); st.Role != "off" {
		t.Fatalf("after SIGTERM: role %s", st.Role)
	}
}
