package replication

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"consoled/replication/wire"
)

// FuzzPeerHandlers sends an active that has one real backup arbitrary
// sequences of messages from a console holding the network key, through
// the real handlers (not only the decoders: wire's fuzz targets have
// those). After each sequence the fuzzing console goes, and the active must
// be the active still, acknowledge its operator's edit, and bring its
// backup to the same digest; no panic, and its goroutines and heap back to
// where they were.
//
//	go test ./replication -run '^$' -fuzz FuzzPeerHandlers -fuzztime 10m -parallel 1
//
// The messages are made from the input bytes with a bias towards what is
// almost right (the active's own ShowID and epochs, seqs next to its own),
// which is where handlers go deepest. One thing is left out: a State that
// says the peer is active for the show and further ahead makes the active
// step down to join it, as it should (a keyed console is a console).
func FuzzPeerHandlers(f *testing.F) {
	key := testKey(f)
	a, b := activeAndBackup(f, key, quietLog())
	edit(f, a, "cue/0", "before")
	converged(f, a, b, 10*time.Second)
	for _, seed := range [][]byte{
		{3, 3, 0},                      // a Forward with no edits
		{4, 1, 0, 0, 0, 2, 0, 7, 1, 2}, // a Join, then Edits and Acks
		{2, 6, 5, 0, 7, 2, 1, 1},
		{6, 0, 2, 1, 1, 0, 5, 13, 14, 12},
		{8, 1, 3, 7, 0, 2, 4, 8, 9, 10, 11, 7, 0},
	} {
		f.Add(seed)
	}
	settle := func() int {
		runtime.GC()
		return runtime.NumGoroutine()
	}
	baseG := settle()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		p := dialProbe(t, key, "fuzz", a.ListenAddr())
		g := &msgGen{data: data, e: a}
		for i, count := 0, 1+int(g.byte()%24); i < count && !g.done(); i++ {
			if raw := g.raw(); raw != nil {
				p.c.NetConn().Write(raw)
				continue
			}
			if err := p.c.Send(g.msg()); err != nil {
				break // the active closed the connection: the rest would not arrive
			}
		}
		p.close()
		if !waitUntil(10*time.Second, func() bool { return a.peer("fuzz") == nil }) {
			t.Fatal("the fuzzing console's connection outlived it")
		}
		if st := a.Status(); st.Role != RoleActive {
			t.Fatalf("desk-1 is %s, not active", st.Role)
		}
		edit(t, a, fmt.Sprintf("cue/fz.%d", n), "after")
		converged(t, a, b, 20*time.Second)
		if !waitUntil(10*time.Second, func() bool { return settle() <= baseG+4 }) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, %d before\n%s", runtime.NumGoroutine(), baseG, buf[:runtime.Stack(buf, true)])
		}
		if n%100 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > baseHeap+128<<20 {
				t.Fatalf("heap grew from %d to %d MB", baseHeap>>20, ms.HeapAlloc>>20)
			}
		}
	})
}

// msgGen makes peer messages from fuzz input.
type msgGen struct {
	data []byte
	e    *Engine // the active, for its lineage
}

func (g *msgGen) done() bool { return len(g.data) == 0 }

func (g *msgGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *msgGen) pick(n int) int { return int(g.byte()) % n }

func (g *msgGen) bytes(max int) []byte {
	n := g.pick(max + 1)
	out := make([]byte, 0, n)
	for range n {
		out = append(out, g.byte())
	}
	return out
}

func (g *msgGen) lineage() (string, []wire.Epoch, uint64) {
	st := g.e.Status()
	return st.ShowID, toWireEpochs(st.Epochs), st.Seq
}

// seq is a seq near the active's, or an odd one.
func (g *msgGen) seq() uint64 {
	_, _, seq := g.lineage()
	switch g.pick(6) {
	case 0:
		return 0
	case 1:
		return seq
	case 2:
		return seq + 1
	case 3:
		return seq - min(seq, uint64(g.pick(4)))
	case 4:
		return seq + uint64(g.pick(8))
	}
	return binary.BigEndian.Uint64(append(g.bytes(8), make([]byte, 8)...)[:8])
}

func (g *msgGen) show() string {
	return []string{"demo", "demo", "other", "", "../x", "a b"}[g.pick(6)]
}

func (g *msgGen) console() string {
	return []string{"fuzz", "desk-1", "desk-2", "", "x\x01"}[g.pick(5)]
}

// epochs are the active's, cut, extended, changed or made up.
func (g *msgGen) epochs() ([]wire.Epoch, uint64) {
	_, eps, seq := g.lineage()
	switch g.pick(6) {
	case 0:
		return eps, seq
	case 1: // the active's and one more: a newer joiner
		return append(eps, wire.Epoch{ID: "fz-new", FirstSeq: seq + 1}), seq + 1 + uint64(g.pick(3))
	case 2: // diverged after a common seq
		common := seq - min(seq, uint64(g.pick(4)))
		return append(eps[:len(eps):len(eps)], wire.Epoch{ID: "fz-div", FirstSeq: common + 1}), common + 1 + uint64(g.pick(3))
	case 3: // behind
		return eps, seq - min(seq, uint64(g.pick(4)))
	case 4:
		return nil, 0
	}
	return []wire.Epoch{{ID: string(g.bytes(3)), FirstSeq: uint64(g.pick(4))}}, g.seq()
}

func (g *msgGen) showID() string {
	id, _, _ := g.lineage()
	return []string{id, id, "fz-show", ""}[g.pick(4)]
}

func (g *msgGen) key() string {
	return []string{"cue/1", "cue/fz", "palette/x", "bad key", "", "cue/\xff"}[g.pick(6)]
}

func (g *msgGen) value() []byte {
	switch g.pick(4) {
	case 0:
		return nil
	case 1:
		return []byte{0xff, 0xfe}
	}
	return g.bytes(6)
}

// raw returns a frame that does not decode, now and then; nil otherwise.
func (g *msgGen) raw() []byte {
	if len(g.data) == 0 || g.data[0] != 0xff {
		return nil
	}
	g.byte()
	body := g.bytes(12)
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)+1))
	return append(append(out, byte(1+g.pick(20))), body...)
}

func (g *msgGen) msg() wire.Msg {
	switch g.pick(15) {
	case 0:
		st := &wire.State{Console: g.console(), Role: []string{"off", "active", "backup", "syncing", "boss"}[g.pick(5)], Show: g.show(),
			ShowID: g.showID(), Stale: g.pick(2) == 0, Master: g.pick(2) == 0, Leaving: g.pick(4) == 0, Following: g.console()}
		st.Epochs, st.Seq = g.epochs()
		if st.Role == string(RoleActive) && st.Show == "demo" {
			// Not further ahead than the active (see above).
			_, _, seq := g.lineage()
			st.Seq = min(st.Seq, seq-1)
		}
		return st
	case 1:
		j := &wire.Join{Show: g.show(), ShowID: g.showID(), CopyOnly: g.pick(4) == 0}
		j.Epochs, j.Seq = g.epochs()
		return j
	case 2:
		return &wire.Ack{Seq: g.seq()}
	case 3:
		fw := &wire.Forward{ReqID: uint64(g.pick(3))}
		for range g.pick(4) {
			fw.Ops = append(fw.Ops, wire.Op{Key: g.key(), Value: g.value(), Delete: g.pick(3) == 0})
		}
		return fw
	case 4:
		return &wire.ForwardReply{ReqID: uint64(g.pick(3)), Seq: g.seq(), Err: []string{"", "no"}[g.pick(2)], ErrKind: []string{"", "bad_input", "no_active", "?"}[g.pick(4)]}
	case 5:
		return &wire.Leaving{}
	case 6:
		r := &wire.JoinReply{Mode: uint8(g.pick(7)), Reason: string(g.bytes(4)), ShowID: g.showID()}
		r.Epochs, r.Seq = g.epochs()
		return r
	case 7:
		_, eps, seq := g.lineage()
		epoch := "fz-new"
		if g.pick(2) == 0 && len(eps) > 0 {
			epoch = eps[len(eps)-1].ID
		}
		next := []uint64{seq + 1, 1, g.seq()}[g.pick(3)]
		var eds []wire.Edit
		for i := range g.pick(4) {
			eds = append(eds, wire.Edit{Seq: next + uint64(i) + uint64(g.pick(2)), Epoch: epoch, Key: g.key(), Value: g.value(), Delete: g.pick(4) == 0})
		}
		return &wire.Edits{Edits: eds}
	case 8:
		return &wire.SnapBegin{Show: g.show(), Bytes: g.seq()}
	case 9:
		return &wire.SnapFile{Name: []string{"000001.sst", "MANIFEST-000001", "../x", ".", ""}[g.pick(5)], Size: uint64(g.pick(64))}
	case 10:
		return &wire.SnapChunk{Data: g.bytes(32)}
	case 11:
		e := &wire.SnapEnd{ShowID: g.showID(), Files: []string{"000001.sst", "x/y"}[:g.pick(3)]}
		e.Epochs, e.Seq = g.epochs()
		return e
	case 12:
		return &wire.Error{Kind: "join", Msg: string(g.bytes(8))}
	case 13:
		return &wire.Hello{Version: wire.ProtocolVersion, Console: g.console()}
	}
	return &wire.State{Console: "fuzz", Role: "off"}
}
