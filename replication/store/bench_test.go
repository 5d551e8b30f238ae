package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAppendSync: one writer, one synced Append per op.
func BenchmarkAppendSync(b *testing.B) {
	_, sh := newShow(b, Options{})
	value := make([]byte, 100)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := sh.Append([]Op{{Key: fmt.Sprintf("cue/%d", i), Value: value}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "edits/s")
}

// BenchmarkAppendParallel64: 64 writers sharing the group commit.
func BenchmarkAppendParallel64(b *testing.B) {
	_, sh := newShow(b, Options{})
	value := make([]byte, 100)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := sh.Append([]Op{{Key: fmt.Sprintf("cue/%d", i), Value: value}}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "edits/s")
}

// BenchmarkAppendBatch64: Appends of 64 edits each, the shape of a busy
// active's group commit; cpu-µs/edit is the process's CPU time (this
// goroutine's and Pebble's background work) per edit.
func BenchmarkAppendBatch64(b *testing.B) {
	_, sh := newShow(b, Options{})
	value := []byte(`{"fade":3,"delay":0,"level":100}`)
	ops := make([]Op, 64)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for j := range ops {
			ops[j] = Op{Key: fmt.Sprintf("cue/%d.%d", j, i), Value: value}
		}
		if _, err := sh.Append(ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(64*b.N), "cpu-µs/edit")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
