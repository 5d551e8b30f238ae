package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
)

func readerConn(b []byte) *Conn { return NewConn(&streamConn{r: bytes.NewReader(b)}) }

func TestFrameLayout(t *testing.T) {
	sc := &streamConn{r: bytes.NewReader(nil)}
	c := NewConn(sc)
	if err := c.WriteMsg(&Ack{Seq: 5}); err != nil {
		t.Fatal(err)
	}
	if sc.w.Len() != 0 {
		t.Fatal("WriteMsg sent without Flush")
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := sc.w.Bytes(), []byte{0, 0, 0, 2, byte(TypeAck), 5}; !bytes.Equal(got, want) {
		t.Fatalf("frame %x, want %x", got, want)
	}
	sc.w.Reset()
	c.Send(&Leaving{})
	if got, want := sc.w.Bytes(), []byte{0, 0, 0, 1, byte(TypeLeaving)}; !bytes.Equal(got, want) {
		t.Fatalf("frame %x, want %x", got, want)
	}
}

func TestReadMsgStream(t *testing.T) {
	var stream []byte
	for _, m := range samples() {
		stream = append(stream, frame(t, m)...)
	}
	c := readerConn(stream)
	for _, want := range samples() {
		got, err := c.ReadMsg()
		if err != nil {
			t.Fatalf("reading %s: %v", want.Type(), err)
		}
		if got.Type() != want.Type() {
			t.Fatalf("got %s, want %s", got.Type(), want.Type())
		}
	}
	if _, err := c.ReadMsg(); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want EOF", err)
	}
}

func TestReadMsgBadFrames(t *testing.T) {
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"zero length":      {[]byte{0, 0, 0, 0, 1}, ErrFrame},
		"over MaxFrame":    {[]byte{0, 0x40, 0, 1, 1}, ErrFrame},
		"max uint32":       {[]byte{0xff, 0xff, 0xff, 0xff}, ErrFrame},
		"short header":     {[]byte{0, 0}, io.ErrUnexpectedEOF},
		"truncated body":   {[]byte{0, 0, 0, 10, byte(TypeAck), 1}, io.ErrUnexpectedEOF},
		"header only":      {[]byte{0, 0, 0, 10}, io.ErrUnexpectedEOF},
		"unknown type":     {[]byte{0, 0, 0, 1, 200}, ErrMalformed},
		"trailing payload": {[]byte{0, 0, 0, 3, byte(TypeAck), 1, 0}, ErrMalformed},
	}
	for name, tc := range cases {
		m, err := readerConn(tc.b).ReadMsg()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", name, m, err, tc.want)
		}
	}
}

// TestReadMsgNoAllocBeforeCheck: a header claiming 4 GiB is refused without
// allocating for it.
func TestReadMsgNoAllocBeforeCheck(t *testing.T) {
	c := readerConn([]byte{0xff, 0xff, 0xff, 0xfe, 1, 2, 3})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := c.ReadMsg()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrame) {
		t.Fatal(err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Fatalf("allocated %d bytes for a refused frame", d)
	}
}

// TestReadMsgResyncAfterDecodeError: a frame that does not decode is
// consumed whole, so the next frame reads fine.
func TestReadMsgResyncAfterDecodeError(t *testing.T) {
	stream := append([]byte{0, 0, 0, 3, 250, 1, 2}, frame(t, &Ack{Seq: 9})...)
	c := readerConn(stream)
	if _, err := c.ReadMsg(); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	m, err := c.ReadMsg()
	if err != nil || m.(*Ack).Seq != 9 {
		t.Fatalf("next frame: %v, %v", m, err)
	}
}

func TestWriteMsgOverMaxFrame(t *testing.T) {
	sc := &streamConn{r: bytes.NewReader(nil)}
	c := NewConn(sc)
	big := make([]byte, MaxValue)
	var edits []Edit
	for i := 0; i < 4; i++ {
		edits = append(edits, Edit{Seq: uint64(i), Key: "cue/1", Value: big})
	}
	if err := c.WriteMsg(&Edits{Edits: edits}); err == nil {
		t.Fatal("wrote a frame over MaxFrame")
	}
	if err := c.Send(&Edits{Edits: []Edit{{Key: "cue/1", Value: make([]byte, MaxValue+1)}}}); err == nil {
		t.Fatal("wrote an over-limit value")
	}
	// Nothing of the refused messages was queued; the next goes out alone.
	if err := c.Send(&Edits{Edits: edits[:3]}); err != nil {
		t.Fatal(err)
	}
	r := readerConn(sc.w.Bytes())
	m, err := r.ReadMsg()
	if err != nil || len(m.(*Edits).Edits) != 3 {
		t.Fatalf("read back %v", err)
	}
	if _, err := r.ReadMsg(); !errors.Is(err, io.EOF) {
		t.Fatalf("extra bytes after the frame: %v", err)
	}
}

// TestReadMsgOwnsMemory: messages from ReadMsg stay intact while later
// frames are read.
func TestReadMsgOwnsMemory(t *testing.T) {
	stream := append(frame(t, &SnapChunk{Data: []byte("first")}), frame(t, &SnapChunk{Data: []byte("other")})...)
	c := readerConn(stream)
	m1, _ := c.ReadMsg()
	c.ReadMsg()
	if string(m1.(*SnapChunk).Data) != "first" {
		t.Fatal("first message overwritten by the second")
	}
}

func TestReadMsgMaxFrame(t *testing.T) {
	// A frame of exactly MaxFrame bytes is accepted by the framing layer.
	b := make([]byte, 4+MaxFrame)
	b[0], b[1], b[2], b[3] = 0, 0x40, 0, 0
	b[4] = byte(TypeSnapChunk)
	_, err := readerConn(b).ReadMsg()
	if errors.Is(err, ErrFrame) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("MaxFrame-sized frame: %v (want a decode error, not a frame error)", err)
	}
}

// A message encoded once and sent as a frame reads back as itself.
func TestSendFrame(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewConn(a), NewConn(b)
	defer ca.Close()
	defer cb.Close()
	st := &State{Console: "desk-1", Role: "active", Show: "demo", Seq: 7, Epochs: []Epoch{{ID: "e1", FirstSeq: 1}}}
	f, err := EncodeFrame(st)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		ca.SendFrame(f)
		ca.SendFrame(f)
	}()
	for i := 0; i < 2; i++ {
		m, err := cb.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := m.(*State); !ok || got.Console != "desk-1" || got.Seq != 7 || len(got.Epochs) != 1 {
			t.Fatalf("read %#v", m)
		}
	}
}
