package wire

import (
	"fmt"
	"testing"
)

// benchPair returns connected Conns: over TLS (the real transport) or plain
// TCP (to show what TLS costs).
func benchPair(b *testing.B, useTLS bool) (recv, send *Conn) {
	if useTLS {
		k := testKey(1)
		return tlsPair(b, newTLS(b, k, "desk-1"), newTLS(b, k, "desk-2"))
	}
	return tcpPair(b)
}

// drain reads n messages in the background and reports the first error.
func drain(c *Conn, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := c.ReadMsg(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// BenchmarkStreamEdits: the active streaming batches of small edits to a
// backup: queue a batch, flush once. MB/s counts encoded edit bytes.
func BenchmarkStreamEdits(b *testing.B) {
	for _, useTLS := range []bool{true, false} {
		for _, batch := range []int{1, 64, 1024} {
			name := fmt.Sprintf("tls=%v/batch=%d", useTLS, batch)
			b.Run(name, func(b *testing.B) {
				recv, send := benchPair(b, useTLS)
				edits := make([]Edit, batch)
				size := 0
				for i := range edits {
					edits[i] = Edit{Seq: uint64(1_000_000 + i), Epoch: "3f2a9c1e7b5d4680", Key: fmt.Sprintf("cue/%d.%d", i/10, i%10), Value: make([]byte, 64)}
					size += edits[i].EncodedSize()
				}
				msg := &Edits{Edits: edits}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				done := drain(recv, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := send.WriteMsg(msg); err != nil {
						b.Fatal(err)
					}
					if err := send.Flush(); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "edits/s")
			})
		}
	}
}

// BenchmarkSnapshotChunks: a snapshot streamed in 1 MiB chunks.
func BenchmarkSnapshotChunks(b *testing.B) {
	for _, useTLS := range []bool{true, false} {
		b.Run(fmt.Sprintf("tls=%v", useTLS), func(b *testing.B) {
			recv, send := benchPair(b, useTLS)
			chunk := &SnapChunk{Data: make([]byte, MaxChunk)}
			for i := range chunk.Data {
				chunk.Data[i] = byte(i * 31)
			}
			b.SetBytes(MaxChunk)
			b.ReportAllocs()
			done := drain(recv, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := send.Send(chunk); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
