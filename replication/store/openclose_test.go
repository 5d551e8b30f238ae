package store

import (
	"sync"
	"testing"
)

// TestOpenWhileLastCloseRuns: opening a show while another goroutine
// closes its last reference waits for that close (Pebble holds the
// directory's lock until it ends) instead of failing with "lock held by
// current process". Consoles asking each other for copies open and close
// a show from several goroutines at once.
func TestOpenWhileLastCloseRuns(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh, err := s.OpenShow("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	sh.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				sh, err := s.OpenShow("demo", false)
				if err != nil {
					errs <- err
					return
				}
				sh.Lineage()
				sh.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
