// Package storebench measures write rates for `make bench`: the show store's
// Append rate, and the raw Pebble synced-batch rate as the baseline it is
// judged against.
package storebench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"consoled/replication/store"

	"github.com/cockroachdb/pebble/v2"
)

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// RawSyncedWriteRate opens a bare Pebble DB in dir (which should be empty or
// absent) and has writers goroutines each commit one small batch (a key and
// a 100-byte value) with pebble.Sync in a loop for d. It returns the batches
// committed per second. Pebble syncs the WAL once for all the batches queued
// meanwhile, so the rate grows with writers.
func RawSyncedWriteRate(dir string, writers int, d time.Duration) (perSec float64, err error) {
	if writers < 1 {
		return 0, errors.New("storebench: writers must be at least 1")
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, FormatMajorVersion: pebble.FormatNewest})
	if err != nil {
		return 0, fmt.Errorf("storebench: open %s: %w", dir, err)
	}
	defer db.Close()
	value := make([]byte, 100)
	return run(writers, d, func(w int, i int64) error {
		b := db.NewBatch()
		defer b.Close()
		b.Set(fmt.Appendf(nil, "k/%03d/%012d", w, i), value, nil)
		return b.Commit(pebble.Sync)
	})
}

// ShowAppendRate is the same measurement through the store: writers
// goroutines each Append one op (a 100-byte value) in a loop for d, on a new
// show in data directory dir. It returns acknowledged edits per second.
func ShowAppendRate(dir string, writers int, d time.Duration) (perSec float64, err error) {
	if writers < 1 {
		return 0, errors.New("storebench: writers must be at least 1")
	}
	s, err := store.Open(dir, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	sh, err := s.OpenShow("bench", true)
	if err != nil {
		return 0, err
	}
	if _, err := sh.StartEpoch(fmt.Sprintf("bench-%d", time.Now().UnixNano())); err != nil {
		return 0, err
	}
	value := make([]byte, 100)
	return run(writers, d, func(w int, i int64) error {
		_, err := sh.Append([]store.Op{{Key: fmt.Sprintf("bench/%d.%d", w, i), Value: value}})
		return err
	})
}

// run calls op from writers goroutines in a loop for d and returns calls/s.
func run(writers int, d time.Duration, op func(w int, i int64) error) (float64, error) {
	var (
		done  atomic.Bool
		total atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); !done.Load(); i++ {
				if err := op(w, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					done.Store(true)
					return
				}
				total.Add(1)
			}
		}()
	}
	time.Sleep(d)
	done.Store(true)
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

// RawSyncedCopiesLatency is the floor for an edit durable on copies
// consoles sharing one disk: copies bare Pebble DBs under dir each commit
// the same small synced batch (a key and value) at once, n times, one
// round every interval, and each round's time until all of them are
// durable is returned.
func RawSyncedCopiesLatency(dir string, copies, n int, interval time.Duration, value []byte) ([]time.Duration, error) {
	var dbs []*pebble.DB
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	for i := 0; i < copies; i++ {
		db, err := pebble.Open(fmt.Sprintf("%s/%d", dir, i), &pebble.Options{Logger: quietLogger{}, FormatMajorVersion: pebble.FormatNewest})
		if err != nil {
			return nil, fmt.Errorf("storebench: open %s/%d: %w", dir, i, err)
		}
		dbs = append(dbs, db)
	}
	out := make([]time.Duration, 0, n)
	errs := make(chan error, copies)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		<-tick.C
		t0 := time.Now()
		for _, db := range dbs {
			go func() { errs <- db.Set(fmt.Appendf(nil, "lat/%d", i), value, pebble.Sync) }()
		}
		for range dbs {
			if err := <-errs; err != nil {
				return nil, err
			}
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}
