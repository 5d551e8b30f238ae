//go:build unix

package store

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

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
