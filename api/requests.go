package api

import "time"

// LaunchRequest asks the console to log on to a show.
type LaunchRequest struct {
	Show  string `json:"show"`
	Force bool   `json:"force"`
}

// EditRequest is `set` (Delete false) or `delete` on POST /v1/edit.
type EditRequest struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Delete bool   `json:"delete"`
}

// EditAnswer acknowledges an edit: it is durable at Seq.
type EditAnswer struct {
	Seq uint64 `json:"seq"`
}

// Object is one show object; the value is text.
type Object struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Dump is `consolectl dump --json`: every object of the live show, sorted
// by key, and the show's digest (hex SHA-256 over the sorted keys and
// values, the same on every console that holds the same content).
type Dump struct {
	Show    string   `json:"show"`
	Seq     uint64   `json:"seq"`
	Digest  string   `json:"digest"`
	Objects []Object `json:"objects"`
}

// Archive is one kept copy (`consolectl archives`).
type Archive struct {
	Name    string    `json:"name"`
	Show    string    `json:"show"`
	Console string    `json:"console"`
	Time    time.Time `json:"time"`
	Why     string    `json:"why"`
	Edits   uint64    `json:"edits"`
}

// AckAnswer answers `consolectl ack`.
type AckAnswer struct {
	Acknowledged int `json:"acknowledged"` // merges acknowledged
}

// RestoreRequest is `consolectl restore NAME`.
type RestoreRequest struct {
	Archive string `json:"archive"`
}

// RestoreAnswer names the show an archive was restored as.
type RestoreAnswer struct {
	Show string `json:"show"`
}

// NetworkKey is `consolectl network-key`: the secret and its fingerprint.
type NetworkKey struct {
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
}

// PressRequest presses a button for HoldMS milliseconds.
type PressRequest struct {
	Button string `json:"button"`
	HoldMS int64  `json:"hold_ms"`
}

// PressAnswer tells what the press did.
type PressAnswer struct {
	Results []CommandResult `json:"results"`
}

// CommandResult is what a front-panel gesture did.
type CommandResult struct {
	Gesture string `json:"gesture"`
	Command string `json:"command"`
	Error   string `json:"error,omitempty"`
}

// LinkRequest sets the NIC's carrier.
type LinkRequest struct {
	Up bool `json:"up"`
}
