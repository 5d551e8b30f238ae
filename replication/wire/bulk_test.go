package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// TestWriteChunkFrame: WriteChunk sends exactly the frame WriteMsg sends for
// the same SnapChunk, and refuses what WriteMsg refuses.
func TestWriteChunkFrame(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, chunkPoolMin - 1, chunkPoolMin, bufSize + 3, MaxChunk} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		a, b := &streamConn{r: bytes.NewReader(nil)}, &streamConn{r: bytes.NewReader(nil)}
		ca, cb := NewConn(a), NewConn(b)
		if err := ca.WriteMsg(&SnapChunk{Data: data}); err != nil {
			t.Fatal(err)
		}
		if err := cb.WriteChunk(data); err != nil {
			t.Fatal(err)
		}
		ca.Flush()
		cb.Flush()
		if !bytes.Equal(a.w.Bytes(), b.w.Bytes()) {
			t.Fatalf("%d bytes: WriteChunk frame differs from WriteMsg's", n)
		}
	}
	sc := &streamConn{r: bytes.NewReader(nil)}
	c := NewConn(sc)
	if err := c.WriteChunk(make([]byte, MaxChunk+1)); err == nil {
		t.Fatal("WriteChunk took more than MaxChunk bytes")
	}
	c.Flush()
	if sc.w.Len() != 0 {
		t.Fatal("a refused chunk was sent")
	}
}

// TestReadMsgPooledChunks: large chunks come through the pooled path intact,
// also when their buffers are released and reused, between other messages.
func TestReadMsgPooledChunks(t *testing.T) {
	sizes := []int{MaxChunk, chunkPoolMin, 5, MaxChunk - 1, chunkPoolMin + 1, MaxChunk}
	var stream []byte
	for i, n := range sizes {
		data := bytes.Repeat([]byte{byte('a' + i)}, n)
		stream = append(stream, frame(t, &SnapChunk{Data: data})...)
		stream = append(stream, frame(t, &Ack{Seq: uint64(i)})...)
	}
	c := readerConn(stream)
	var kept *SnapChunk
	for i, n := range sizes {
		m, err := c.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		ch, ok := m.(*SnapChunk)
		if !ok || len(ch.Data) != n || !bytes.Equal(ch.Data, bytes.Repeat([]byte{byte('a' + i)}, n)) {
			t.Fatalf("chunk %d: wrong content", i)
		}
		if i == 0 {
			kept = ch // never released: must stay intact
		} else {
			ReleaseChunk(ch)
		}
		if a, err := c.ReadMsg(); err != nil || a.(*Ack).Seq != uint64(i) {
			t.Fatalf("ack %d: %v %v", i, a, err)
		}
	}
	if !bytes.Equal(kept.Data, bytes.Repeat([]byte{'a'}, MaxChunk)) {
		t.Fatal("an unreleased chunk was overwritten")
	}
	if _, err := c.ReadMsg(); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v", err)
	}
}

// TestReadMsgLargeChunkMalformed: a large SnapChunk frame whose inner length
// does not match, or is not minimally encoded, is reported as malformed like
// any other, and the stream goes on at the next frame; one cut short is a
// network error.
func TestReadMsgLargeChunkMalformed(t *testing.T) {
	good := frame(t, &SnapChunk{Data: make([]byte, chunkPoolMin)})
	short := append([]byte(nil), good...) // inner length one more than the frame holds
	short[5]++
	// The same chunk with its length varint padded by a byte (not minimal).
	v := binary.AppendUvarint(nil, chunkPoolMin)
	v[len(v)-1] |= 0x80
	v = append(v, 0)
	body := append(append([]byte{byte(TypeSnapChunk)}, v...), make([]byte, chunkPoolMin)...)
	long := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	for name, bad := range map[string][]byte{"inner length": short, "non-minimal varint": long} {
		stream := append(append([]byte(nil), bad...), frame(t, &Ack{Seq: 9})...)
		c := readerConn(stream)
		if _, err := c.ReadMsg(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v, want ErrMalformed", name, err)
		}
		if m, err := c.ReadMsg(); err != nil || m.(*Ack).Seq != 9 {
			t.Fatalf("%s: next frame: %v %v", name, m, err)
		}
	}
	if _, err := readerConn(good[:len(good)-1]).ReadMsg(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut short: %v, want ErrUnexpectedEOF", err)
	}
}

// BenchmarkSnapChunks: a full sync's bulk data, 1 MiB chunks over TLS, sent
// with WriteChunk and released after reading, as the engine does.
func BenchmarkSnapChunks(b *testing.B) {
	recv, send := benchPair(b, true)
	data := make([]byte, MaxChunk)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			m, err := recv.ReadMsg()
			if err != nil {
				done <- err
				return
			}
			ReleaseChunk(m.(*SnapChunk))
		}
		done <- nil
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := send.WriteChunk(data); err != nil {
			b.Fatal(err)
		}
	}
	if err := send.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
