package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
)

// allTypes lists one zero message of every type.
func allTypes() []Msg {
	return []Msg{
		&Hello{}, &HelloReply{}, &Reject{}, &Error{}, &State{}, &Join{},
		&JoinReply{}, &Edits{}, &Ack{}, &Forward{}, &ForwardReply{},
		&SnapBegin{}, &SnapFile{}, &SnapChunk{}, &SnapEnd{}, &Leaving{},
	}
}

// samples returns small messages of every type, zero and filled: the fuzz
// seeds and the basic round-trip table.
func samples() []Msg {
	eps := []Epoch{{"e1a2b3", 1}, {"f00d", 42}, {"", math.MaxUint64}}
	return append(allTypes(),
		&Hello{Version: ProtocolVersion, Console: "desk-1", Listen: "10.0.0.1:7400", Master: true, KeyFP: "0a1b2c3d"},
		&Hello{Version: math.MaxUint16, Console: "ü-desk"},
		&HelloReply{Version: 1, Console: "desk-2", OK: true},
		&HelloReply{Version: 2, Console: "desk-2", Reason: "peer speaks 1"},
		&Reject{Reason: "not serving show x"},
		&Error{Kind: "disk", Msg: "disk full"},
		&State{Console: "desk-1", Role: "active", Show: "hamlet", ShowID: "s1", Epochs: eps, Seq: 1 << 40, Stale: true, Master: true, Leaving: true},
		&State{Console: "desk-2", Role: "backup", Seq: 127, Following: "desk-1"},
		&Join{Show: "hamlet", ShowID: "s1", Epochs: eps[:1], Seq: 128},
		&JoinReply{Mode: JoinCatchUp, ShowID: "s1", Epochs: eps, Seq: 9},
		&JoinReply{Mode: JoinRefused, Reason: "another show"},
		&Edits{Edits: []Edit{
			{Seq: 1, Epoch: "e1", Key: "cue/1", Value: []byte("go")},
			{Seq: 2, Epoch: "e1", Key: "cue/2", Delete: true},
			{Seq: 300, Epoch: "e2", Key: "palette/ü", Value: []byte{0, 1, 2, 255}},
		}},
		&Ack{Seq: 1<<64 - 1},
		&Forward{ReqID: 7, Ops: []Op{{Key: "cue/1", Value: []byte("x")}, {Key: "cue/2", Delete: true}}},
		&ForwardReply{ReqID: 7, Seq: 12},
		&ForwardReply{ReqID: 8, Err: "bad key", ErrKind: "bad-input"},
		&SnapBegin{Show: "hamlet", Bytes: 1 << 33},
		&SnapFile{Name: "000001.sst", Size: 3 << 20},
		&SnapChunk{Data: []byte("sstable bytes")},
		&SnapEnd{ShowID: "s1", Epochs: eps, Seq: 99, Files: []string{"000001.sst", "MANIFEST-000003", "OPTIONS-000004"}},
	)
}

// maximal returns messages with every field at its limit.
func maximal() []Msg {
	s := strings.Repeat("s", MaxString)
	text := strings.Repeat("r", MaxText)
	key := strings.Repeat("k", MaxKey)
	val := bytes.Repeat([]byte{0xAB}, MaxValue)
	eps := make([]Epoch, MaxEpochs)
	for i := range eps {
		eps[i] = Epoch{ID: "0123456789abcdef", FirstSeq: uint64(i)}
	}
	many := make([]Edit, MaxItems)
	for i := range many {
		many[i] = Edit{Seq: uint64(i), Epoch: "e", Key: "cue/1"}
	}
	ops := make([]Op, MaxItems)
	for i := range ops {
		ops[i] = Op{Key: "cue/1", Value: []byte{1}}
	}
	files := make([]string, MaxFiles)
	for i := range files {
		files[i] = s
	}
	return []Msg{
		&Hello{Version: math.MaxUint16, Console: s, Listen: s, Master: true, KeyFP: s},
		&HelloReply{Version: math.MaxUint16, Console: s, OK: true, Reason: text},
		&Reject{Reason: text},
		&Error{Kind: s, Msg: text},
		&State{Console: s, Role: s, Show: s, ShowID: s, Epochs: eps, Seq: math.MaxUint64, Stale: true, Master: true, Leaving: true, Following: s},
		&Join{Show: s, ShowID: s, Epochs: eps, Seq: math.MaxUint64, CopyOnly: true},
		&JoinReply{Mode: math.MaxUint8, Reason: text, ShowID: s, Epochs: eps, Seq: math.MaxUint64},
		&Edits{Edits: []Edit{{Seq: math.MaxUint64, Epoch: s, Key: key, Value: val, Delete: true}, {Seq: 1, Epoch: s, Key: key, Value: val}}},
		&Edits{Edits: many},
		&Ack{Seq: math.MaxUint64},
		&Forward{ReqID: math.MaxUint64, Ops: []Op{{Key: key, Value: val}, {Key: key, Value: val, Delete: true}}},
		&Forward{ReqID: 1, Ops: ops},
		&ForwardReply{ReqID: math.MaxUint64, Seq: math.MaxUint64, Err: text, ErrKind: s},
		&SnapBegin{Show: s, Bytes: math.MaxUint64},
		&SnapFile{Name: s, Size: math.MaxUint64},
		&SnapChunk{Data: bytes.Repeat([]byte{0xCD}, MaxChunk)},
		&SnapEnd{ShowID: s, Epochs: eps, Seq: math.MaxUint64, Files: files},
	}
}

func roundTrip(t *testing.T, m Msg) {
	t.Helper()
	b, err := AppendMsg(nil, m)
	if err != nil {
		t.Fatalf("%s: encode: %v", m.Type(), err)
	}
	if len(b)-0 > MaxFrame {
		t.Fatalf("%s: %d bytes, over MaxFrame", m.Type(), len(b))
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("%s: decode: %v", m.Type(), err)
	}
	if got.Type() != m.Type() {
		t.Fatalf("decoded %s, want %s", got.Type(), m.Type())
	}
	if !reflect.DeepEqual(normalize(got), normalize(m)) {
		t.Fatalf("%s: round trip changed the message:\n got %+v\nwant %+v", m.Type(), got, m)
	}
	again, err := AppendMsg(nil, got)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("%s: re-encoding differs (err %v)", m.Type(), err)
	}
}

func TestRoundTripSamples(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, m := range samples() {
		roundTrip(t, m)
		seen[m.Type()] = true
	}
	if len(seen) != len(typeNames) {
		t.Fatalf("samples cover %d types, there are %d", len(seen), len(typeNames))
	}
}

func TestRoundTripMaximal(t *testing.T) {
	for _, m := range maximal() {
		roundTrip(t, m)
	}
}

// TestRoundTripRandom fills every message type with random values.
func TestRoundTripRandom(t *testing.T) {
	cfg := &quick.Config{MaxCount: 200, Rand: rand.New(rand.NewSource(1))}
	for _, zero := range allTypes() {
		typ := reflect.TypeOf(zero).Elem()
		t.Run(zero.Type().String(), func(t *testing.T) {
			for i := 0; i < cfg.MaxCount; i++ {
				v, ok := quick.Value(typ, cfg.Rand)
				if !ok {
					t.Fatalf("cannot generate %v", typ)
				}
				p := reflect.New(typ)
				p.Elem().Set(v)
				roundTrip(t, p.Interface().(Msg))
			}
		})
	}
}

func TestEncodeRefusesOverLimit(t *testing.T) {
	long := strings.Repeat("x", MaxString+1)
	cases := []Msg{
		&Hello{Console: long},
		&Reject{Reason: strings.Repeat("x", MaxText+1)},
		&Edits{Edits: []Edit{{Key: strings.Repeat("k", MaxKey+1)}}},
		&Edits{Edits: []Edit{{Key: "cue/1", Value: make([]byte, MaxValue+1)}}},
		&Edits{Edits: make([]Edit, MaxItems+1)},
		&Forward{Ops: make([]Op, MaxItems+1)},
		&State{Epochs: make([]Epoch, MaxEpochs+1)},
		&SnapChunk{Data: make([]byte, MaxChunk+1)},
		nil,
	}
	for _, m := range cases {
		dst := []byte("keep")
		out, err := AppendMsg(dst, m)
		if err == nil {
			t.Errorf("%v: encoded an over-limit message", m)
		}
		if string(out) != "keep" {
			t.Errorf("%v: AppendMsg appended on error", m)
		}
	}
}

func TestEditEncodedSize(t *testing.T) {
	for _, m := range append(samples(), maximal()...) {
		switch m := m.(type) {
		case *Edits:
			edits := 0
			for _, e := range m.Edits {
				edits += e.EncodedSize()
			}
			b, _ := AppendMsg(nil, m)
			if want := 1 + uvarintLen(uint64(len(m.Edits))) + edits; want != len(b) {
				t.Errorf("Edits: sizes sum to %d, encoding is %d", want, len(b))
			}
			if frame := 4 + len(b); frame > EditsOverhead+edits {
				t.Errorf("Edits frame is %d bytes, EditsOverhead+sizes is only %d", frame, EditsOverhead+edits)
			}
		case *Forward:
			sum := 1 + uvarintLen(m.ReqID) + uvarintLen(uint64(len(m.Ops)))
			for _, op := range m.Ops {
				sum += op.EncodedSize()
			}
			b, _ := AppendMsg(nil, m)
			if sum != len(b) {
				t.Errorf("Forward: sizes sum to %d, encoding is %d", sum, len(b))
			}
		}
	}
}

// TestDecodeTruncated: every strict prefix of every encoding is refused.
func TestDecodeTruncated(t *testing.T) {
	for _, m := range samples() {
		b, _ := AppendMsg(nil, m)
		for i := 0; i < len(b); i++ {
			if got, err := Decode(b[:i]); err == nil {
				t.Fatalf("%s: prefix of %d/%d bytes decoded as %+v", m.Type(), i, len(b), got)
			} else if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: error %v does not wrap ErrMalformed", m.Type(), err)
			}
		}
	}
}

func TestDecodeTrailingBytes(t *testing.T) {
	for _, m := range samples() {
		b, _ := AppendMsg(nil, m)
		if _, err := Decode(append(b, 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
			t.Fatalf("%s: trailing byte: err = %v", m.Type(), err)
		}
	}
}

func TestDecodeUnknownType(t *testing.T) {
	for _, typ := range []byte{0, 17, 99, 255} {
		if _, err := Decode([]byte{typ}); err == nil || !strings.Contains(err.Error(), "unknown message type") {
			t.Fatalf("type %d: err = %v", typ, err)
		}
	}
	if _, err := Decode(nil); err == nil {
		t.Fatal("empty input decoded")
	}
}

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestDecodeHostile: hand-made payloads with bad lengths, counts and values.
func TestDecodeHostile(t *testing.T) {
	ty := func(t MsgType) []byte { return []byte{byte(t)} }
	cases := map[string][]byte{
		"reason over 4 KiB":     cat(ty(TypeReject), uv(MaxText+1), make([]byte, MaxText+1)),
		"console over 256":      cat(ty(TypeHello), []byte{0, 1}, uv(MaxString+1), make([]byte, MaxString+1)),
		"huge string length":    cat(ty(TypeReject), uv(math.MaxUint64)),
		"length past the end":   cat(ty(TypeReject), uv(100), []byte("short")),
		"edits over the limit":  cat(ty(TypeEdits), uv(MaxItems+1)),
		"edits not in input":    cat(ty(TypeEdits), uv(MaxItems), make([]byte, 100)),
		"ops over the limit":    cat(ty(TypeForward), uv(1), uv(MaxItems+1)),
		"epochs over the limit": cat(ty(TypeJoin), uv(0), uv(0), uv(MaxEpochs+1)),
		"epochs not in input":   cat(ty(TypeJoin), uv(0), uv(0), uv(MaxEpochs), make([]byte, 10)),
		"value over 1 MiB":      cat(ty(TypeForward), uv(1), uv(1), uv(5), []byte("cue/1"), uv(MaxValue+1)),
		"chunk over 1 MiB":      cat(ty(TypeSnapChunk), uv(MaxChunk+1), make([]byte, MaxChunk+1)),
		"bool 2":                cat(ty(TypeHelloReply), []byte{0, 1}, uv(0), []byte{2}, uv(0)),
		"non-minimal varint":    cat(ty(TypeAck), []byte{0x81, 0x00}),
		"varint overflow":       cat(ty(TypeAck), bytes.Repeat([]byte{0xFF}, 10), []byte{0x01}),
		"truncated varint":      cat(ty(TypeAck), []byte{0x80}),
		"files over the limit":  cat(ty(TypeSnapEnd), uv(0), uv(0), uv(0), uv(MaxFiles+1)),
		"files not in input":    cat(ty(TypeSnapEnd), uv(0), uv(0), uv(0), uv(MaxFiles), make([]byte, 10)),
		"leaving with payload":  cat(ty(TypeLeaving), []byte{0}),
	}
	for name, b := range cases {
		if m, err := Decode(b); err == nil {
			t.Errorf("%s: decoded %+v", name, m)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v does not wrap ErrMalformed", name, err)
		}
	}
}

// TestDecodeBoundedAllocation: a tiny payload claiming the maximum count
// must not allocate for it.
func TestDecodeBoundedAllocation(t *testing.T) {
	b := cat([]byte{byte(TypeEdits)}, uv(MaxItems), make([]byte, 8))
	res := testing.Benchmark(func(bb *testing.B) {
		bb.ReportAllocs()
		for i := 0; i < bb.N; i++ {
			Decode(b)
		}
	})
	if per := res.AllocedBytesPerOp(); per > 1024 {
		t.Fatalf("Decode of a 12-byte hostile payload allocated %d bytes", per)
	}
}
