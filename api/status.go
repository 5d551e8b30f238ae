package api

import "time"

// Status is `consolectl status --json`. The Contract (docs/contract.md) fixes its
// keys; new ones may be added, none removed or renamed.
type Status struct {
	Console string            `json:"console"`
	Role    string            `json:"role"` // off, active, backup, syncing
	Show    string            `json:"show"`
	ShowID  string            `json:"show_id"`
	Epoch   string            `json:"epoch"`
	Epochs  []Epoch           `json:"epochs"`
	Seq     uint64            `json:"seq"`
	Stale   bool              `json:"stale"`
	Link    string            `json:"link"` // up, down
	Peers   []Peer            `json:"peers"`
	LEDs    map[string]string `json:"leds"` // LED name → off, on, blink
	Board   string            `json:"board"`
	Master  bool              `json:"master"`
	Faults  []Fault           `json:"faults"`
	Acked   uint64            `json:"edits_acknowledged"`

	Syncing     bool   `json:"syncing"`      // a copy is being transferred
	Active      string `json:"active"`       // the active this backup follows
	Listen      string `json:"listen"`       // the peer listener's address
	NetworkKey  string `json:"network_key"`  // the key's fingerprint (not the key)
	AuthRefused int    `json:"auth_refused"` // peer connections refused: wrong or no network key
	FullSyncs   uint64 `json:"full_syncs"`   // whole copies sent to joining backups
	CatchUps    uint64 `json:"catch_ups"`    // backups brought up to date with missed edits only
	Adoptions   uint64 `json:"adoptions"`    // joiners with newer copies whose edits this active took
	// What was refused from the network: peer messages malformed or out of
	// place (each closed its connection), connections over a source
	// address's share of handshakes, beacons from another address than the
	// one they name or too old.
	BadMessages    uint64 `json:"bad_messages"`
	ConnsRefused   uint64 `json:"conns_refused"`
	BeaconsRefused uint64 `json:"beacons_refused"`

	// Copy is the full copy arriving on this console, while one does.
	Copy *Copy `json:"copy,omitempty"`

	// Merges are the divergence merges not yet acknowledged (consolectl ack);
	// the FAULT LED blinks while there are any. null when there are none.
	Merges []Merge `json:"merges"`
	// WaitingFor names the master console a launch waits for (rule 5).
	WaitingFor string `json:"waiting_for,omitempty"`
	Ack        string `json:"ack"` // the --ack mode

	Descriptors Descriptors `json:"descriptors"`

	// Fence says why this active acknowledges an edit only once a backup
	// holds it: it was paused, or lost its last live backup, and has not yet
	// heard every console afresh. Absent when it does not.
	Fence string `json:"fence,omitempty"`
	// HandOver is a log-off waiting for a backup to hold every edit this
	// console acknowledged.
	HandOver *HandOver `json:"hand_over,omitempty"`

	// RemoteControl is whether this console takes consolectl --remote:
	// RemoteControlOn or RemoteControlOff (consoled --remote-control).
	RemoteControl string `json:"remote_control"`
	// Resume is what consoled --resume did at start; absent without it.
	Resume *Resume `json:"resume,omitempty"`
}

// HandOver is a log-off under way (see Status.HandOver).
type HandOver struct {
	Since   time.Time `json:"since"`
	Seq     uint64    `json:"seq"`     // the last edit: what a backup must hold
	Waiting []string  `json:"waiting"` // the backups that do not hold it yet; "(copying)" after one still taking a copy
}

// Descriptors are the service's open file descriptors (sockets count) and
// its limit (the soft RLIMIT_NOFILE, which Go raises to the hard limit when
// the service starts).
type Descriptors struct {
	Open  int    `json:"open"`
	Limit uint64 `json:"limit"`
}

// Epoch is one entry of a copy's epoch history.
type Epoch struct {
	ID       string `json:"id"`
	FirstSeq uint64 `json:"first_seq"`
}

// Peer is another console as this one sees it.
type Peer struct {
	Console   string `json:"console"`
	Role      string `json:"role"`
	Show      string `json:"show"`
	Seq       uint64 `json:"seq"`
	Connected bool   `json:"connected"`
	// Address is where it takes connections (its peer port, which also
	// takes consolectl --remote), as this console reached it last; "" when
	// it cannot tell.
	Address string `json:"address"`
}

// The values of Status.RemoteControl.
const (
	RemoteControlOn  = "on"
	RemoteControlOff = "off"
)

// Resume is what consoled --resume did at start (Status.Resume).
type Resume struct {
	Show string `json:"show"` // the show it was logged on to when it stopped; "" if none
	// Outcome is one of the Resume* values below, or "failed: " and why.
	Outcome string    `json:"outcome"`
	Since   time.Time `json:"since"`            // when the outcome was reached (or the resume began, while it runs)
	Detail  string    `json:"detail,omitempty"` // the launch's message, for a refusal or a failure
}

// The outcomes of a resume.
const (
	ResumeNothing   = "nothing to resume" // it was logged off when it stopped: it stays off
	ResumeLaunching = "launching"
	ResumeWaiting   = "waiting for the master" // Status.WaitingFor names it
	ResumeJoined    = "joined"                 // a backup of the show's active
	ResumeActive    = "active"                 // no active served the show: it launched as active
	ResumeStale     = "refused: stale"         // the stale-launch guard refused it (FAULT blinks); tried again when a console connects
	ResumeRefused   = "refused"                // another refusal ("refused: " and why)
	ResumeFailed    = "failed"                 // "failed: " and why
)

// Merge reports a divergence merge: the objects only the other console
// changed were taken; for objects both changed ours stayed, and the other's
// versions are in an archive on that console.
type Merge struct {
	With      string    `json:"with"`      // the console whose copy was merged
	Time      time.Time `json:"time"`      // when
	Common    uint64    `json:"common"`    // the last seq both copies shared
	Merged    int       `json:"merged"`    // objects taken from its copy
	Conflicts []string  `json:"conflicts"` // objects both changed: ours kept, theirs archived on With
	// Unmatched counts, on the console whose copy was replaced, the objects
	// of that copy the live show does not hold as it did (the conflicts the
	// active won, or anything a merge could not bring in); Archive keeps them.
	Unmatched int    `json:"unmatched,omitempty"`
	Archive   string `json:"archive,omitempty"`
}

// Fault is one reason the FAULT LED is lit. Each is listed once: the same
// fault reported from several places (a peer reached at two addresses)
// counts them.
type Fault struct {
	Kind    string    `json:"kind"`
	Level   string    `json:"level"` // blink or steady
	Message string    `json:"message"`
	Since   time.Time `json:"since"`           // when this console first saw it
	Count   int       `json:"count,omitempty"` // how many places report it, when more than one
}

// Copy is a full copy of the show arriving (Status.Copy).
type Copy struct {
	From    string    `json:"from"`    // the console sending it
	Bytes   int64     `json:"bytes"`   // received so far
	Total   int64     `json:"total"`   // about how many will come; 0 when not known
	Started time.Time `json:"started"` // when the first bytes came
}

// Panel is `consolectl panel --json`: LED name → off, on or blink.
type Panel map[string]string
