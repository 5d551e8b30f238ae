package store

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestDigestKnownVector(t *testing.T) {
	_, sh := newShow(t, Options{})
	empty, err := sh.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(empty[:]); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty show digest = %s, want SHA-256 of nothing", got)
	}

	long := strings.Repeat("x", 200) // its length takes a 2-byte uvarint
	mustAppend(t, sh, set("palette/red", long), set("cue/1", "go"))

	// Built by hand: uvarint(len(key)) ‖ key ‖ uvarint(len(value)) ‖ value, in key order.
	var in []byte
	in = append(in, 5)
	in = append(in, "cue/1"...)
	in = append(in, 2)
	in = append(in, "go"...)
	in = append(in, 11)
	in = append(in, "palette/red"...)
	in = append(in, 0xc8, 0x01) // 200
	in = append(in, long...)
	const want = "4776d8beac80615542e494e2e51896be693f76bf585ee5a6819530509d91229e"
	if sum := sha256.Sum256(in); hex.EncodeToString(sum[:]) != want {
		t.Fatalf("test vector is wrong: %x", sum)
	}

	got, err := sh.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("digest = %x, want %s", got, want)
	}
	dumped, seq, err := sh.Dump(func(Object) error { return nil })
	if err != nil || dumped != got || seq != 2 {
		t.Fatalf("Dump digest %x seq %d err %v; want the same digest at seq 2", dumped, seq, err)
	}
}

func TestDigestDependsOnContentOnly(t *testing.T) {
	_, a := newShow(t, Options{})
	mustAppend(t, a, set("cue/1", "one"), set("cue/2", "two"), set("cue/3", "three"))

	// Same content, another history: other order, overwrites, deletes, more
	// epochs, objects that came and went.
	_, b := newShow(t, Options{})
	mustAppend(t, b, set("cue/3", "3"), set("cue/9", "gone"))
	mustAppend(t, b, set("cue/2", "two"))
	b.StartEpoch("e2")
	mustAppend(t, b, del("cue/9"), set("cue/1", "one"), set("cue/3", "three"))
	b.Apply([]Edit{{Seq: 7, Epoch: "e2", Op: del("cue/4")}})

	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("same content, different digests: %x vs %x", da, db)
	}
	if a.Lineage().Seq == b.Lineage().Seq {
		t.Fatal("test should compare different histories")
	}

	// Any difference in content shows.
	for _, change := range [][]Op{
		{set("cue/1", "One")},  // a value
		{set("cue/4", "")},     // an empty object added
		{del("cue/3")},         // an object removed
		{set("cue/10", "one")}, // a key
	} {
		_, c := newShow(t, Options{})
		mustAppend(t, c, set("cue/1", "one"), set("cue/2", "two"), set("cue/3", "three"))
		mustAppend(t, c, change...)
		if dc, _ := c.Digest(); dc == da {
			t.Errorf("digest unchanged by %+v", change)
		}
	}
	// The lengths keep key/value boundaries apart.
	_, x := newShow(t, Options{})
	mustAppend(t, x, set("a/b", "cd"))
	_, y := newShow(t, Options{})
	mustAppend(t, y, set("a/bc", "d"))
	if dx, _ := x.Digest(); func() bool { dy, _ := y.Digest(); return dx == dy }() {
		t.Error("digest does not separate key from value")
	}
}
