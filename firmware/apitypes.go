package firmware

import (
	"time"

	"consoled/replication"
)

// The control API's JSON, shared by the service and the consolectl client.
// The Contract in DESIGN.md fixes the key names of StatusJSON and DumpJSON.

// StatusJSON is `consolectl status --json`.
type StatusJSON struct {
	Console string             `json:"console"`
	Role    string             `json:"role"`
	Show    string             `json:"show"`
	ShowID  string             `json:"show_id"`
	Epoch   string             `json:"epoch"`
	Epochs  []EpochJSON        `json:"epochs"`
	Seq     uint64             `json:"seq"`
	Stale   bool               `json:"stale"`
	Link    string             `json:"link"`
	Peers   []replication.Peer `json:"peers"`
	LEDs    map[string]string  `json:"leds"`
	Board   string             `json:"board"`
	Master  bool               `json:"master"`
	Faults  []Fault            `json:"faults"`
	Acked   uint64             `json:"edits_acknowledged"`

	Syncing     bool   `json:"syncing"`      // a copy is being transferred
	Active      string `json:"active"`       // the active this backup follows
	Listen      string `json:"listen"`       // the peer listener's address
	NetworkKey  string `json:"network_key"`  // the key's fingerprint (not the key)
	AuthRefused int    `json:"auth_refused"` // peer connections refused: wrong or no network key
	FullSyncs   uint64 `json:"full_syncs"`   // whole copies sent to joining backups
	CatchUps    uint64 `json:"catch_ups"`    // backups brought up to date with missed edits only
	Adoptions   uint64 `json:"adoptions"`    // joiners with newer copies whose edits this active took

	// Merges are the divergence merges not yet acknowledged (consolectl ack);
	// the FAULT LED blinks while there are any.
	Merges []replication.Merge `json:"merges"`
	// WaitingFor names the master console a launch waits for (rule 5).
	WaitingFor string `json:"waiting_for,omitempty"`
	Ack        string `json:"ack"` // the --ack mode
	// Fence says why this active acknowledges an edit only once a backup
	// holds it (it was paused, or lost its last backup, and has not yet
	// heard every console afresh); absent when it does not.
	Fence string `json:"fence,omitempty"`
	// HandOver is a log-off waiting for a backup to hold every edit this
	// console acknowledged.
	HandOver *HandOverJSON `json:"hand_over,omitempty"`
}

// HandOverJSON is a log-off under way (see StatusJSON.HandOver).
type HandOverJSON struct {
	Since   time.Time `json:"since"`
	Seq     uint64    `json:"seq"`     // the last edit: what a backup must hold
	Waiting []string  `json:"waiting"` // the backups that do not hold it yet
}

// ArchiveJSON is one kept copy (`consolectl archives`).
type ArchiveJSON struct {
	Name    string    `json:"name"`
	Show    string    `json:"show"`
	Console string    `json:"console"`
	Time    time.Time `json:"time"`
	Why     string    `json:"why"`
	Edits   uint64    `json:"edits"`
}

// AckJSON answers `consolectl ack`.
type AckJSON struct {
	Acknowledged int `json:"acknowledged"` // merges acknowledged
}

// RestoreRequest is `consolectl restore NAME`.
type RestoreRequest struct {
	Archive string `json:"archive"`
}

// RestoreJSON names the show an archive was restored as.
type RestoreJSON struct {
	Show string `json:"show"`
}

// KeyJSON is `consolectl network-key`.
type KeyJSON struct {
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
}

// EpochJSON is one entry of a copy's epoch history.
type EpochJSON struct {
	ID       string `json:"id"`
	FirstSeq uint64 `json:"first_seq"`
}

// ObjectJSON is one show object; the value is text.
type ObjectJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// DumpJSON is `consolectl dump --json`.
type DumpJSON struct {
	Show    string       `json:"show"`
	Seq     uint64       `json:"seq"`
	Digest  string       `json:"digest"`
	Objects []ObjectJSON `json:"objects"`
}

// LaunchRequest asks the console to log on to a show.
type LaunchRequest struct {
	Show  string `json:"show"`
	Force bool   `json:"force"`
}

// EditRequest is `set` (Delete false) or `delete`.
type EditRequest struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Delete bool   `json:"delete"`
}

// EditResponse acknowledges an edit: it is durable at Seq.
type EditResponse struct {
	Seq uint64 `json:"seq"`
}

// PressRequest presses a mock button for HoldMS milliseconds.
type PressRequest struct {
	Button string `json:"button"`
	HoldMS int64  `json:"hold_ms"`
}

// PressResponse tells what the press did.
type PressResponse struct {
	Results []CommandResult `json:"results"`
}

// LinkRequest sets the mock NIC's carrier.
type LinkRequest struct {
	Up bool `json:"up"`
}

// ErrorJSON is every error answer. Kind is "bad_input", "refused",
// "not_logged_on", "disk_full", "mock_only" or "internal".
type ErrorJSON struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}
