package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of the control API's JSON")

// The control API's JSON as `--json` prints it, one golden file per request
// and answer: a change to the contract shows up in review as a change to
// testdata/*.golden.
func TestContractGolden(t *testing.T) {
	at := time.Date(2026, 3, 14, 19, 30, 0, 0, time.UTC)
	status := Status{
		Console: "desk-2", Role: "backup", Show: "demo", ShowID: "5f0c2a9e", Epoch: "e-7a1b",
		Epochs: []Epoch{{ID: "e-0001", FirstSeq: 1}, {ID: "e-7a1b", FirstSeq: 120}},
		Seq:    153, Stale: false, Link: "up",
		Peers: []Peer{
			{Console: "desk-1", Role: "active", Show: "demo", Seq: 153, Connected: true, Address: "10.0.0.1:7400"},
			{Console: "desk-3", Role: "off", Show: "", Seq: 0, Connected: false, Address: "10.0.0.3:7400"},
		},
		LEDs:   map[string]string{"active": "off", "backup": "on", "sync": "off", "link": "on", "fault": "blink"},
		Board:  "mock",
		Master: false,
		Faults: []Fault{{Kind: "protocol", Level: "blink", Message: "desk-9 speaks protocol 9", Since: at}},
		Acked:  42,

		Syncing: false, Active: "desk-1", Listen: "127.0.0.1:7402", NetworkKey: "a1b2c3d4",
		AuthRefused: 1, FullSyncs: 2, CatchUps: 3, Adoptions: 1,
		Merges:        []Merge{{With: "desk-3", Time: at, Common: 100, Merged: 4, Conflicts: []string{"cue/1", "cue/2"}}, {With: "desk-1", Time: at, Common: 100, Conflicts: []string{"cue/7"}, Unmatched: 1, Archive: "demo-20260314T193000Z-ab12"}},
		WaitingFor:    "desk-1",
		Ack:           "one",
		Descriptors:   Descriptors{Open: 37, Limit: 1048576},
		RemoteControl: "on",
		Resume:        &Resume{Show: "demo", Outcome: ResumeJoined, Since: at},
	}
	off := Status{
		Console: "desk-1", Role: "off", Epochs: []Epoch{}, Link: "down", Peers: []Peer{},
		LEDs:  map[string]string{"active": "off", "backup": "off", "sync": "off", "link": "off", "fault": "off"},
		Board: "mock", Faults: []Fault{}, Listen: "[::]:7400", NetworkKey: "a1b2c3d4", Ack: "one",
		Descriptors:   Descriptors{Open: 12, Limit: 1048576},
		RemoteControl: "off",
		Resume:        &Resume{Outcome: ResumeNothing, Since: at},
	}
	stale := off
	stale.Stale = true
	stale.Resume = &Resume{Show: "demo", Outcome: ResumeStale, Since: at,
		Detail: "refused: stale copy: this copy of \"demo\" may be outdated: desk-2 carried on after it crashed or lost its link, and none of them can be reached; start one of them first, or force (launch --force, or hold LAUNCH 3 s)"}
	handing := status
	handing.Role, handing.Active, handing.Merges = "active", "", nil
	handing.Fence = "lost its last live backup"
	handing.HandOver = &HandOver{Since: at, Seq: 153, Waiting: []string{"desk-3 (copying)"}}
	for _, c := range []struct {
		name string
		v    any
	}{
		{"status", status},
		{"status_handing_over", handing},
		{"status_off", off},
		{"status_resume_stale", stale},
		{"panel", Panel{"active": "on", "backup": "off", "sync": "blink", "link": "on", "fault": "off"}},
		{"launch_request", LaunchRequest{Show: "demo", Force: true}},
		{"edit_request", EditRequest{Key: "cue/1", Value: `{"fade":3}`}},
		{"edit_delete_request", EditRequest{Key: "cue/1", Delete: true}},
		{"edit_answer", EditAnswer{Seq: 154}},
		{"object", Object{Key: "cue/1", Value: `{"fade":3}`}},
		{"dump", Dump{Show: "demo", Seq: 2, Digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Objects: []Object{{Key: "cue/1", Value: "a"}, {Key: "cue/2", Value: "b"}}}},
		{"archives", []Archive{{Name: "demo-desk-3-20260314T193000Z", Show: "demo", Console: "desk-3", Time: at, Why: "diverged at seq 101: merged", Edits: 110}}},
		{"archives_empty", []Archive{}},
		{"ack_answer", AckAnswer{Acknowledged: 1}},
		{"restore_request", RestoreRequest{Archive: "demo-desk-3-20260314T193000Z"}},
		{"restore_answer", RestoreAnswer{Show: "demo-desk-3-20260314T193000Z"}},
		{"network_key", NetworkKey{Key: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", Fingerprint: "a1b2c3d4"}},
		{"press_request", PressRequest{Button: "launch", HoldMS: 3000}},
		{"press_answer", PressAnswer{Results: []CommandResult{
			{Gesture: "hold launch", Command: "launch demo --force"},
			{Gesture: "press logoff", Command: "logoff", Error: "not logged on to a show (run: consolectl launch SHOW)"},
		}}},
		{"link_request", LinkRequest{Up: false}},
		{"net", Net{Consoles: []NetConsole{
			{Console: "desk-1", Address: "10.0.0.1:7400", Role: "active", Show: "demo", Seq: 153, Lag: new(uint64(0)), Link: "up", Faults: []Fault{}},
			{Console: "desk-2", Address: "10.0.0.2:7400", Role: "backup", Show: "demo", Seq: 150, Lag: new(uint64(3)), Link: "up",
				Faults: []Fault{{Kind: "protocol", Level: "blink", Message: "desk-9 speaks protocol 9", Since: at}}},
			{Console: "desk-3", Address: "10.0.0.3:7400", Role: "off", Faults: []Fault{},
				Error: "desk-3 refuses remote control (consoled --remote-control off): use its control socket or its front panel"},
		}}},
		{"error", ErrorAnswer{Error: "launch demo refused: this copy may be outdated", Kind: "refused"}},
		{"error_forbidden", ErrorAnswer{Error: "desk-2 refuses remote control (consoled --remote-control off): use its control socket or its front panel", Kind: KindForbidden}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := json.MarshalIndent(c.v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, append(got, '\n'))
		})
	}
}

// The edit stream's frames, byte for byte.
func TestStreamGolden(t *testing.T) {
	var b bytes.Buffer
	for _, f := range []struct {
		name  string
		frame []byte
	}{
		{"set cue/1 {\"fade\":3}", AppendEdit(nil, "cue/1", `{"fade":3}`, false)},
		{"delete cue/1", AppendEdit(nil, "cue/1", "", true)},
		{"seq 300", AppendSeq(nil, 300)},
		{"error bad_input", AppendError(nil, FrameError, KindBadInput, "bad input: key")},
		{"end unavailable", AppendError(nil, FrameEnd, KindUnavailable, "the console is stopping")},
	} {
		fmt.Fprintf(&b, "%s\n\t% x\n", f.name, f.frame)
	}
	golden(t, "edit_stream", b.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: the control API is a contract (docs/contract.md); if the change is meant, extend it and run go test -update\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
