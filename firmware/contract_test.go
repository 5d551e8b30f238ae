package firmware

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"consoled/api"
	"consoled/hal"
	"consoled/replication"
	"consoled/replication/store"
)

// Every field of the engine's Status, Peer and Merge is shown by the control
// API, or listed here as not shown: a new engine field fails this test until
// it is mapped in contract.go (or deliberately left out).
func TestStatusMapsEngine(t *testing.T) {
	for _, c := range []struct {
		typ   reflect.Type
		known []string
	}{
		{reflect.TypeFor[replication.Status](), []string{
			"Console", "Role", "Show", "ShowID", "Epoch", "Epochs", "Seq", "Stale", "Syncing", "LinkUp", "Peers",
			"Active", "Listen", "KeyFingerprint", "AuthRefused", "FullSyncs", "CatchUps", "Adoptions", "Merges",
			"WaitingFor", "ProtocolFaults", "Fence", "HandOver", "GuardStatus",
			"Copy", // through Options.Copy (copyprogress.go), which tests replace
		}},
		{reflect.TypeFor[replication.GuardStatus](), []string{"BadMessages", "ConnsRefused", "BeaconsRefused"}},
		{reflect.TypeFor[replication.Peer](), []string{"Console", "Role", "Show", "Seq", "Connected", "Address"}},
		{reflect.TypeFor[replication.Merge](), []string{"With", "Time", "Common", "Merged", "Conflicts", "Unmatched", "Archive"}},
		{reflect.TypeFor[replication.HandOver](), []string{"Since", "Seq", "Waiting"}},
		{reflect.TypeFor[store.Epoch](), []string{"ID", "FirstSeq"}},
	} {
		for f := range c.typ.Fields() {
			if f.IsExported() && !slices.Contains(c.known, f.Name) {
				t.Errorf("%s.%s is not mapped into the control API: map it in firmware/contract.go, or list it in this test as not shown", c.typ, f.Name)
			}
		}
	}

	at := time.Date(2026, 3, 14, 19, 30, 0, 0, time.UTC)
	got := engineStatus(replication.Status{
		Console: "desk-2", Role: replication.RoleBackup, Show: "demo", ShowID: "5f0c", Epoch: "e2",
		Epochs: []store.Epoch{{ID: "e1", FirstSeq: 1}, {ID: "e2", FirstSeq: 9}}, Seq: 12, Stale: true, Syncing: true, LinkUp: true,
		Peers:  []replication.Peer{{Console: "desk-1", Role: replication.RoleActive, Show: "demo", Seq: 12, Connected: true, Address: "127.0.0.1:7401"}},
		Active: "desk-1", Listen: "127.0.0.1:7402", KeyFingerprint: "a1b2c3d4", AuthRefused: 1, FullSyncs: 2, CatchUps: 3, Adoptions: 4,
		Merges:         []replication.Merge{{With: "desk-3", Time: at, Common: 5, Merged: 6, Conflicts: []string{"cue/1"}, Unmatched: 1, Archive: "demo-1"}},
		WaitingFor:     "desk-1",
		ProtocolFaults: []string{"desk-9 speaks protocol 9"},
		Fence:          "paused for 2s",
		HandOver:       &replication.HandOver{Since: at, Seq: 12, Waiting: []string{"desk-3 (copying)"}},
	})
	want := api.Status{
		Console: "desk-2", Role: "backup", Show: "demo", ShowID: "5f0c", Epoch: "e2",
		Epochs: []api.Epoch{{ID: "e1", FirstSeq: 1}, {ID: "e2", FirstSeq: 9}}, Seq: 12, Stale: true, Syncing: true, Link: "up",
		Peers:  []api.Peer{{Console: "desk-1", Role: "active", Show: "demo", Seq: 12, Connected: true, Address: "127.0.0.1:7401"}},
		Active: "desk-1", Listen: "127.0.0.1:7402", NetworkKey: "a1b2c3d4", AuthRefused: 1, FullSyncs: 2, CatchUps: 3, Adoptions: 4,
		Merges:     []api.Merge{{With: "desk-3", Time: at, Common: 5, Merged: 6, Conflicts: []string{"cue/1"}, Unmatched: 1, Archive: "demo-1"}},
		WaitingFor: "desk-1",
		Faults:     []api.Fault{{Kind: "protocol", Level: "blink", Message: "desk-9 speaks protocol 9"}},
		Fence:      "paused for 2s",
		HandOver:   &api.HandOver{Since: at, Seq: 12, Waiting: []string{"desk-3 (copying)"}},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("engineStatus:\n got %s\nwant %s", g, w)
	}
	c := engineCopy{}.Copy(replication.Status{Copy: &replication.CopyProgress{From: "desk-1", Bytes: 5, Total: 9, Started: at}})
	if want := (&api.Copy{From: "desk-1", Bytes: 5, Total: 9, Started: at}); !reflect.DeepEqual(c, want) {
		t.Errorf("copy %+v, want %+v", c, want)
	}
	if c := (engineCopy{}).Copy(replication.Status{Syncing: true}); c != nil {
		t.Errorf("copy %+v when the engine reports none", c)
	}
	// null stays null and [] stays [], as the JSON always showed them.
	off := engineStatus(replication.Status{Peers: []replication.Peer{}})
	if off.Peers == nil || len(off.Peers) != 0 || off.Merges != nil || off.Epochs == nil || off.Link != "down" {
		t.Errorf("engineStatus of a console off: peers %#v merges %#v epochs %#v link %q", off.Peers, off.Merges, off.Epochs, off.Link)
	}
}

// The contract's names and limits are the HAL's and the store's.
func TestContractMatchesParts(t *testing.T) {
	if !slices.Equal(api.Buttons, hal.ButtonNames) || !slices.Equal(api.LEDs, hal.LEDNames) {
		t.Errorf("api buttons %v LEDs %v; hal %v %v", api.Buttons, api.LEDs, hal.ButtonNames, hal.LEDNames)
	}
	if api.MaxKeyLen != store.MaxKeyLen || api.MaxValueLen != store.MaxValueLen {
		t.Errorf("api limits %d/%d, store %d/%d", api.MaxKeyLen, api.MaxValueLen, store.MaxKeyLen, store.MaxValueLen)
	}
	for _, s := range []hal.LEDState{hal.Off, hal.On, hal.Blink} {
		if n := s.String(); n != api.LEDOff && n != api.LEDOn && n != api.LEDBlink {
			t.Errorf("LED state %q is not one of the API's", n)
		}
	}
}

// The engine's and store's errors map to the API's kinds, and so to HTTP
// statuses and consolectl's exit statuses.
func TestErrorKinds(t *testing.T) {
	for _, c := range []struct {
		err    error
		kind   api.Kind
		status int
		exit   int
	}{
		{replication.ErrBadInput, api.KindBadInput, 400, api.ExitError},
		{replication.ErrStale, api.KindRefused, 409, api.ExitRefused},
		{replication.ErrRefused, api.KindRefused, 409, api.ExitRefused},
		{replication.ErrNotLoggedOn, api.KindNotLoggedOn, 412, api.ExitError},
		{replication.ErrNoActive, api.KindNoActive, 503, api.ExitError},
		{replication.ErrOutcomeUnknown, api.KindOutcomeUnknown, 504, api.ExitOutcomeUnknown},
		{store.ErrDiskFull, api.KindDiskFull, 507, api.ExitError},
		{errors.New("something else"), api.KindInternal, 500, api.ExitError},
	} {
		err := fmt.Errorf("submit: %w", c.err)
		if k := kindOf(err); k != c.kind || k.Status() != c.status || k.ExitCode() != c.exit {
			t.Errorf("%v: kind %q status %d exit %d; want %q %d %d", c.err, k, k.Status(), k.ExitCode(), c.kind, c.status, c.exit)
		}
	}
}
