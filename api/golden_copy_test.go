package api

import (
	"encoding/json"
	"testing"
	"time"
)

// A console taking a full copy: Status.Copy, and a fault reported from two
// places listed once with its count.
func TestCopyGolden(t *testing.T) {
	at := time.Date(2026, 3, 14, 19, 30, 0, 0, time.UTC)
	syncing := Status{
		Console: "desk-3", Role: "syncing", Show: "demo", Epochs: []Epoch{}, Link: "up",
		Peers:   []Peer{{Console: "desk-1", Role: "active", Show: "demo", Seq: 153, Connected: true, Address: "127.0.0.1:7401"}},
		LEDs:    map[string]string{"active": "off", "backup": "on", "sync": "blink", "link": "on", "fault": "blink"},
		Board:   "mock",
		Faults:  []Fault{{Kind: "protocol", Level: "blink", Message: "desk-9 speaks protocol 9", Since: at, Count: 2}},
		Syncing: true, Active: "desk-1", Listen: "127.0.0.1:7403", NetworkKey: "a1b2c3d4", Ack: "one",
		Copy:        &Copy{From: "desk-1", Bytes: 12 << 20, Total: 48 << 20, Started: at},
		Descriptors: Descriptors{Open: 40, Limit: 1048576}, RemoteControl: RemoteControlOn,
	}
	got, err := json.MarshalIndent(syncing, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "status_syncing", append(got, '\n'))
}
