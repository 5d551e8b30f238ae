package replication

import (
	"errors"
	"sync"
	"testing"
	"time"

	"consoled/replication/store"
)

// crashTogether stops every console of s at the same instant, as a power
// cut of the whole rig does: frozen first, so that none sees another go and
// carries on, then crashed. Each copy's record then names the others as the
// consoles it was with, as a simultaneous kill leaves it; a crash in this
// process can still write the record once more while its connections
// close, so the record is put back to that afterwards.
func crashTogether(t *testing.T, s *simNet) {
	for _, c := range s.cs {
		c.gate.freeze()
	}
	for _, c := range s.cs {
		s.crash(c)
	}
	for _, c := range s.cs {
		c.gate.thaw()
		st, err := store.Open(c.dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pres, err := st.Presence(simShow)
		if err == nil {
			pres.With = nil
			for _, o := range s.cs {
				if o != c {
					pres.With = append(pres.With, o.id)
				}
			}
			err = st.SetPresence(simShow, pres)
		}
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// launchAllAtOnce starts cs again, waits until each is connected to the
// others, and launches them all at once, none forced.
func launchAllAtOnce(t *testing.T, s *simNet, cs []*simConsole) []error {
	for _, c := range cs {
		s.start(c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range cs {
		for len(c.e.connected()) < len(cs)-1 {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not connect to the others", c.id)
			}
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.launch(c, false)
		}()
	}
	wg.Wait()
	return errs
}

// TestWholeShowBackAfterCrash: every console of the show stops at once, so
// every copy's record names the others as consoles that may have carried
// on, and the stale-launch guard refused each of them. Back and launched
// together, none forced, they end on one show with one active, the one that
// held the most, and every acknowledged edit.
func TestWholeShowBackAfterCrash(t *testing.T) {
	s := newSimNet(t, 31, 3)
	for _, c := range s.cs {
		if err := s.launch(c, false); err != nil {
			t.Fatal(err)
		}
	}
	s.waitConverged("the network")
	for i := 0; i < 5; i++ {
		s.edit(s.cs[i%3])
	}
	crashTogether(t, s)
	for i, err := range launchAllAtOnce(t, s, s.cs) {
		if err != nil {
			t.Fatalf("%s: launch after the whole show stopped: %v\n%s\n\nengine logs:\n%s", s.cs[i].id, err, s.steps(), s.logs.String())
		}
	}
	s.waitConverged("the show after the crash")
	s.checkStrict(31)
	ids := map[string]bool{}
	for _, c := range s.cs {
		ids[c.e.Status().ShowID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("%d shows after the restart: %v", len(ids), ids)
	}
}

// TestWholeShowBackNeedsEveryone: after the same stop, consoles that come
// back without one they were with stay refused as stale: the missing one
// may have carried on after them.
func TestWholeShowBackNeedsEveryone(t *testing.T) {
	s := newSimNet(t, 37, 3)
	for _, c := range s.cs {
		if err := s.launch(c, false); err != nil {
			t.Fatal(err)
		}
	}
	s.waitConverged("the network")
	s.edit(s.cs[0])
	crashTogether(t, s)
	back := s.cs[:2]
	for i, err := range launchAllAtOnce(t, s, back) {
		if !errors.Is(err, ErrStale) {
			t.Errorf("%s: launch without %s: %v, want a stale refusal", back[i].id, s.cs[2].id, err)
		}
		if st := back[i].e.Status(); st.Role != RoleOff || !st.Stale {
			t.Errorf("%s: %s, stale %v after the refusal", back[i].id, st.Role, st.Stale)
		}
	}
	if t.Failed() {
		t.Logf("%s\n\nengine logs:\n%s", s.steps(), s.logs.String())
	}
	s.start(s.cs[2]) // the cleanup closes the consoles that run
}
