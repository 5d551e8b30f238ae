package store

import (
	"fmt"
	"sync"
	"sync/atomic"
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
