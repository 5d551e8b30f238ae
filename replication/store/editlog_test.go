package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEditsSinceAndCompact(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{LogRetain: 10})
	sh, _ := s.OpenShow("demo", true)
	sh.StartEpoch("e1")
	for i := 1; i <= 50; i++ {
		mustAppend(t, sh, set(fmt.Sprintf("cue/%d", i%7), fmt.Sprint(i)))
	}
	if got := logAll(t, sh, 45); len(got) != 5 || got[0].Seq != 46 || got[4].Seq != 50 || string(got[0].Value) != "46" {
		t.Fatalf("EditsSince(45) = %+v", got)
	}
	if got := logAll(t, sh, 50); len(got) != 0 {
		t.Fatalf("EditsSince(seq) = %+v, want nothing", got)
	}
	if err := sh.EditsSince(51, func(Edit) error { return nil }); err == nil || errors.Is(err, ErrLogTruncated) {
		t.Fatalf("EditsSince past the seq = %v, want an error (not truncation)", err)
	}
	// fn's error stops the stream and comes back as is.
	stop := errors.New("stop")
	n := 0
	if err := sh.EditsSince(0, func(Edit) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("EditsSince with failing fn = %v after %d", err, n)
	}
	digest, _ := sh.Digest()

	if err := sh.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := logAll(t, sh, 40); len(got) != 10 || got[0].Seq != 41 {
		t.Fatalf("EditsSince(40) after compact = %d edits", len(got))
	}
	for _, after := range []uint64{0, 20, 39} {
		err := sh.EditsSince(after, func(Edit) error { t.Fatal("streamed a truncated range"); return nil })
		if !errors.Is(err, ErrLogTruncated) || !strings.Contains(err.Error(), "starts at seq 41") {
			t.Fatalf("EditsSince(%d) after compact = %v, want ErrLogTruncated", after, err)
		}
	}
	if d, _ := sh.Digest(); d != digest {
		t.Fatal("compact changed the content")
	}
	s.Close()

	// The trimmed log passes the open checks and goes on.
	s2 := openStore(t, dir, Options{LogRetain: 10})
	sh2, err := s2.OpenShow("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, sh2, set("cue/x", "51"))
	if got := logAll(t, sh2, 40); len(got) != 11 || got[10].Seq != 51 {
		t.Fatalf("after reopen: %d edits", len(got))
	}
}

func TestEncodeDecodeEdit(t *testing.T) {
	for _, e := range []Edit{
		{Seq: 1, Epoch: "e1", Op: set("cue/1", "v")},
		{Seq: 2, Epoch: strings.Repeat("E", 128), Op: Op{Key: "cue/" + strings.Repeat("k", 252), Value: make([]byte, MaxValueLen)}},
		{Seq: 3, Epoch: "e", Op: set("cue/1", "")},
		{Seq: 4, Epoch: "e", Op: del("cue/1")},
	} {
		got, err := decodeEdit(e.Seq, encodeEdit(nil, e))
		if err != nil || got.Seq != e.Seq || got.Epoch != e.Epoch || got.Key != e.Key || got.Delete != e.Delete || string(got.Value) != string(e.Value) {
			t.Fatalf("round trip of %d: %v", e.Seq, err)
		}
		if !e.Delete && got.Value == nil {
			t.Fatal("empty value decoded as nil")
		}
	}
	good := encodeEdit(nil, Edit{Seq: 1, Epoch: "e1", Op: set("cue/1", "v")})
	for _, bad := range [][]byte{nil, {2, 0}, good[:len(good)-1], append(good, 0)} {
		if _, err := decodeEdit(1, bad); err == nil {
			t.Fatalf("decoded a bad entry %x", bad)
		}
	}
}

func TestEncodedEditLen(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 1 << 20} {
		for _, del := range []bool{false, true} {
			e := Edit{Seq: 7, Epoch: strings.Repeat("e", n%300), Op: Op{Key: strings.Repeat("k", n%257), Value: make([]byte, n), Delete: del}}
			if got, want := encodedEditLen(&e), len(encodeEdit(nil, e)); got != want {
				t.Errorf("n=%d delete=%v: encodedEditLen %d, encodeEdit %d bytes", n, del, got, want)
			}
		}
	}
}
