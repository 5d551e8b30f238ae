package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// Frames of every type survive the trip through a FrameReader, big ones
// (larger than its buffer) too.
func TestStreamRoundTrip(t *testing.T) {
	big := strings.Repeat("v", MaxValueLen)
	var b []byte
	b = AppendEdit(b, "cue/1", `{"fade":3}`, false)
	b = AppendEdit(b, "cue/2", "ignored", true)
	b = AppendEdit(b, "cue/big", big, false)
	b = AppendEdit(b, "", "", false)
	b = AppendSeq(b, 0)
	b = AppendSeq(b, 1<<63)
	b = AppendError(b, FrameError, KindBadInput, "bad input: key \"x\" is not kind/id")
	b = AppendError(b, FrameEnd, KindInternal, "")
	fr := NewFrameReader(bufio.NewReaderSize(bytes.NewReader(b), 4096))
	edit := func(key, value string, del bool) {
		t.Helper()
		typ, p, err := fr.Next()
		if err != nil || typ != FrameEdit {
			t.Fatalf("frame %d, %v; want an edit", typ, err)
		}
		k, v, d, err := DecodeEdit(p)
		if err != nil || string(k) != key || string(v) != value || d != del {
			t.Fatalf("edit %q=%.20q del %v (%v), want %q=%.20q del %v", k, v, d, err, key, value, del)
		}
	}
	edit("cue/1", `{"fade":3}`, false)
	if !fr.Buffered() {
		t.Error("the next frame has arrived, Buffered says not")
	}
	edit("cue/2", "", true)
	edit("cue/big", big, false)
	edit("", "", false)
	for _, want := range []uint64{0, 1 << 63} {
		typ, p, err := fr.Next()
		seq, derr := DecodeSeq(p)
		if err != nil || typ != FrameSeq || derr != nil || seq != want {
			t.Fatalf("seq frame %d %d %v %v, want %d", typ, seq, err, derr, want)
		}
	}
	for _, want := range []struct {
		typ  byte
		kind Kind
		msg  string
	}{{FrameError, KindBadInput, "bad input: key \"x\" is not kind/id"}, {FrameEnd, KindInternal, ""}} {
		typ, p, err := fr.Next()
		kind, msg, derr := DecodeError(p)
		if err != nil || derr != nil || typ != want.typ || kind != want.kind || msg != want.msg {
			t.Fatalf("error frame %d %q %q (%v %v), want %+v", typ, kind, msg, err, derr, want)
		}
	}
	if fr.Buffered() {
		t.Error("Buffered at the end")
	}
	if _, _, err := fr.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want EOF", err)
	}
}

func TestStreamBadFrames(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"length 0", []byte{0, 0, 0, 0}, ErrStream},
		{"length over MaxFrame", []byte{0, 0x7f, 0, 0, 1}, ErrStream},
		{"cut in the header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"cut in the payload", []byte{0, 0, 0, 5, FrameEdit, 0}, io.ErrUnexpectedEOF},
	} {
		fr := NewFrameReader(bufio.NewReader(bytes.NewReader(c.b)))
		if _, _, err := fr.Next(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		p    []byte
	}{
		{"no flags", nil},
		{"unknown flag", []byte{2, 0}},
		{"key past the end", []byte{0, 5, 'a'}},
		{"no key length", []byte{0}},
		{"delete with a value", []byte{1, 1, 'k', 'v'}},
	} {
		if _, _, _, err := DecodeEdit(c.p); !errors.Is(err, ErrStream) {
			t.Errorf("edit %s: %v, want ErrStream", c.name, err)
		}
	}
	if _, err := DecodeSeq([]byte{1, 2}); !errors.Is(err, ErrStream) {
		t.Errorf("seq with trailing bytes: %v", err)
	}
	if _, _, err := DecodeError([]byte{5, 'a'}); !errors.Is(err, ErrStream) {
		t.Errorf("error with a short kind: %v", err)
	}
}

// FuzzStreamDecoder feeds arbitrary bytes to the console's side of the
// stream, as a hostile or broken client could: it never panics, reads no
// frame over MaxFrame, and whatever it decodes encodes back to a frame that
// decodes the same.
func FuzzStreamDecoder(f *testing.F) {
	var seed []byte
	seed = AppendEdit(seed, "cue/1", `{"fade":3}`, false)
	seed = AppendEdit(seed, "cue/2", "", true)
	f.Add(seed)
	f.Add(AppendSeq(nil, 300))
	f.Add(AppendError(nil, FrameError, KindRefused, "no"))
	f.Add([]byte{0, 0, 0, 3, FrameEdit, 0, 0x80})
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFrameReader(bufio.NewReaderSize(bytes.NewReader(b), 64))
		for {
			buffered := fr.Buffered()
			typ, p, err := fr.Next()
			if err != nil {
				if buffered && !errors.Is(err, ErrStream) {
					t.Fatalf("Buffered said a frame had arrived, Next: %v", err)
				}
				return
			}
			if len(p)+1 > MaxFrame {
				t.Fatalf("frame of %d bytes", len(p)+1)
			}
			switch typ {
			case FrameEdit:
				k, v, del, err := DecodeEdit(p)
				if err != nil {
					continue
				}
				var r []byte
				r = AppendEdit(r, string(k), string(v), del)
				k2, v2, del2, err := DecodeEdit(r[5:])
				if err != nil || !bytes.Equal(k, k2) || !bytes.Equal(v, v2) || del != del2 || r[4] != FrameEdit {
					t.Fatalf("edit %q=%q del %v came back as %q=%q del %v (%v)", k, v, del, k2, v2, del2, err)
				}
			case FrameSeq:
				if seq, err := DecodeSeq(p); err == nil {
					if s2, err := DecodeSeq(AppendSeq(nil, seq)[5:]); err != nil || s2 != seq {
						t.Fatalf("seq %d came back as %d (%v)", seq, s2, err)
					}
				}
			case FrameError, FrameEnd:
				if kind, msg, err := DecodeError(p); err == nil {
					k2, m2, err := DecodeError(AppendError(nil, typ, kind, msg)[5:])
					if err != nil || k2 != kind || m2 != msg {
						t.Fatalf("error %q %q came back as %q %q (%v)", kind, msg, k2, m2, err)
					}
				}
			}
		}
	})
}
