package replication

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"consoled/replication/wire"
)

// Every message a keyed peer can send that is bad in itself or out of place
// closes that peer's connection, is counted and raises a protocol fault,
// and the active goes on serving its backup and its operator. The first one
// used to panic the active (pipeline index -1).
func TestBadPeerMessagesCloseTheConnection(t *testing.T) {
	key := testKey(t)
	a, b := activeAndBackup(t, key, quietLog())
	lin := func() (string, []wire.Epoch, uint64) {
		st := a.Status()
		return st.ShowID, toWireEpochs(st.Epochs), st.Seq
	}
	showID, epochs, seq := lin()
	cases := []struct {
		name string
		msgs []wire.Msg
	}{
		{"forward without edits", []wire.Msg{&wire.Forward{ReqID: 1}}},
		{"forward with a bad key", []wire.Msg{&wire.Forward{ReqID: 1, Ops: []wire.Op{{Key: "no slash", Value: []byte("x")}}}}},
		{"forward with request ID 0", []wire.Msg{&wire.Forward{Ops: []wire.Op{{Key: "cue/1", Value: []byte("x")}}}}},
		{"forward with invalid UTF-8", []wire.Msg{&wire.Forward{ReqID: 1, Ops: []wire.Op{{Key: "cue/1", Value: []byte{0xff}}}}}},
		{"state naming another console", []wire.Msg{&wire.State{Console: "desk-2", Role: "off"}}},
		{"state with an unknown role", []wire.Msg{&wire.State{Console: "probe", Role: "boss"}}},
		{"state with a bad show name", []wire.Msg{&wire.State{Console: "probe", Role: "backup", Show: "../x", ShowID: "s"}}},
		{"join with a bad show name", []wire.Msg{&wire.Join{Show: "a/b", ShowID: showID, Epochs: epochs, Seq: seq}}},
		{"join with epochs past its seq", []wire.Msg{&wire.Join{Show: "demo", ShowID: showID, Epochs: append(epochs, wire.Epoch{ID: "later", FirstSeq: seq + 5}), Seq: seq}}},
		{"ack from a console that never joined", []wire.Msg{&wire.Ack{Seq: 1}}},
		{"ack past the active's seq", []wire.Msg{&wire.Join{Show: "demo", ShowID: showID, Epochs: epochs, Seq: seq}, nil, &wire.Ack{Seq: 1 << 40}}},
		{"forward reply to nothing", []wire.Msg{&wire.ForwardReply{ReqID: 1 << 50, Seq: 1}}},
		{"join reply outside an exchange", []wire.Msg{&wire.JoinReply{Mode: wire.JoinCatchUp, ShowID: showID, Epochs: epochs, Seq: seq}}},
		{"edits outside an exchange", []wire.Msg{&wire.Edits{Edits: []wire.Edit{{Seq: seq + 1, Epoch: epochs[0].ID, Key: "cue/x", Value: []byte("x")}}}}},
		{"snapshot outside an exchange", []wire.Msg{&wire.SnapBegin{Show: "demo"}, &wire.SnapFile{Name: "000001.sst", Size: 1}}},
		{"a hello after the handshake", []wire.Msg{&wire.Hello{Version: wire.ProtocolVersion, Console: "probe"}}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := a.Status().BadMessages
			p := dialProbe(t, key, "probe", a.ListenAddr())
			for _, m := range c.msgs {
				if m == nil { // wait until the active streams to the probe
					if !waitUntil(5*time.Second, func() bool { return a.isBackupLink("probe") }) {
						t.Fatal("the active did not take the probe as a backup")
					}
					continue
				}
				if err := p.c.Send(m); err != nil {
					t.Fatalf("sending %s: %v", m.Type(), err)
				}
			}
			if !p.closedByEngine(5 * time.Second) {
				t.Fatal("the active kept the connection")
			}
			st := a.Status()
			if st.BadMessages != before+1 {
				t.Errorf("bad messages counted: %d, want %d", st.BadMessages, before+1)
			}
			if !faultNames(st.ProtocolFaults, "probe") {
				t.Errorf("no protocol fault names the probe: %q", st.ProtocolFaults)
			}
			if st.Role != RoleActive {
				t.Fatalf("desk-1 is %s, not active", st.Role)
			}
			edit(t, a, fmt.Sprintf("cue/after.%d", i), "x")
			converged(t, a, b, 10*time.Second)
			// The probe is gone before the next one connects under its name.
			if !waitUntil(5*time.Second, func() bool { return a.peer("probe") == nil }) {
				t.Fatal("the probe's connection is still registered")
			}
		})
	}
}

// Messages that a race brings legitimately are no fault: a Join for a show
// the console does not serve (it has just logged off) is refused, not
// punished, and a late Ack of a backup that was dropped is ignored.
func TestRacyPeerMessagesAreNoFault(t *testing.T) {
	key := testKey(t)
	a, _ := activeAndBackup(t, key, quietLog())
	st := a.Status()
	p := dialProbe(t, key, "probe", a.ListenAddr())
	for _, m := range []wire.Msg{
		&wire.State{Console: "probe", Role: "off"},
		&wire.Join{Show: "other", ShowID: "x", Seq: 0},
		&wire.Ack{Seq: 1},
		&wire.Leaving{},
		&wire.State{Console: "probe", Role: "off"},
	} {
		if err := p.c.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if p.closedByEngine(300 * time.Millisecond) {
		t.Fatal("the active closed the connection")
	}
	if got := a.Status(); got.BadMessages != st.BadMessages || len(got.ProtocolFaults) != 0 {
		t.Fatalf("bad messages %d, faults %q", got.BadMessages, got.ProtocolFaults)
	}
}

func (e *Engine) isBackupLink(id string) bool {
	e.acks.mu.Lock()
	defer e.acks.mu.Unlock()
	return e.acks.links[id] != nil
}

func faultNames(faults []string, who string) bool {
	for _, f := range faults {
		if strings.Contains(f, who) {
			return true
		}
	}
	return false
}

func testKey(t testing.TB) wire.Key {
	t.Helper()
	var k wire.Key
	copy(k[:], fmt.Sprintf("%-32s", t.Name()))
	return k
}

// A merge's changes are the last state of each object, in key order, with
// the seq of the write that left it so; they are not consecutive.
func TestValidChanges(t *testing.T) {
	ok := []wire.Edit{{Seq: 7, Key: "cue/1", Value: []byte("a")}, {Seq: 3, Key: "cue/2", Delete: true}}
	if err := validChanges(ok); err != nil {
		t.Fatalf("a valid batch of changes: %v", err)
	}
	for _, bad := range [][]wire.Edit{
		{{Seq: 0, Key: "cue/1"}},
		{{Seq: 1, Key: "cue/1", Epoch: "e1"}},
		{{Seq: 1, Key: "cue/2"}, {Seq: 2, Key: "cue/1"}},
		{{Seq: 1, Key: "cue/1"}, {Seq: 2, Key: "cue/1"}},
		{{Seq: 1, Key: "cue/1", Delete: true, Value: []byte("x")}},
		{{Seq: 1, Key: "no slash"}},
	} {
		if err := validChanges(bad); err == nil {
			t.Errorf("%+v passed", bad)
		}
	}
	if err := validJoinReply(&wire.JoinReply{Mode: wire.JoinMerge, ShowID: "ab", Epochs: []wire.Epoch{{ID: "e1", FirstSeq: 1}}, Seq: 5}); err != nil {
		t.Errorf("a JoinMerge reply: %v", err)
	}
}
