package wire

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to the
// same bytes (the encoding is canonical, so nothing is silently dropped or
// reinterpreted). The handshake's lenient parsers must not panic either.
func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		b, err := AppendMsg(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{byte(TypeEdits), 0x80, 0x80, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseHello(b)
		refusal(b)
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := AppendMsg(nil, m)
		if err != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}

// FuzzReadMsg: reading a byte stream never panics; it ends with an error
// (EOF at the latest) and every message it yields re-encodes.
func FuzzReadMsg(f *testing.F) {
	var all []byte
	for _, m := range samples() {
		fr := frame(f, m)
		f.Add(fr)
		all = append(all, fr...)
	}
	f.Add(all)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 0, 0, 5, byte(TypeAck)})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := readerConn(b)
		for i := 0; i <= len(b); i++ {
			m, err := c.ReadMsg()
			if errors.Is(err, ErrMalformed) {
				continue
			}
			if err != nil {
				return
			}
			if _, err := AppendMsg(nil, m); err != nil {
				t.Fatalf("read %+v, which does not re-encode: %v", m, err)
			}
		}
		t.Fatal("ReadMsg did not stop at the end of the stream")
	})
}
