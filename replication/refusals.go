package replication

import (
	"sync"
	"sync/atomic"
	"time"
)

// guardState counts what the engine refused from the network: messages
// (validate.go), connections (accept.go) and beacons (beacons.go).
type guardState struct {
	badMessages    atomic.Uint64
	connsRefused   atomic.Uint64
	beaconsRefused atomic.Uint64

	mu         sync.Mutex
	handshakes map[string]int       // handshakes under way, by source host (accept.go)
	duplicate  duplicateNote        // the last console met with this one's ID (duplicate.go)
	own        beacon               // the beacon this console sends (beacons.go)
	givenUp    map[string]time.Time // discovered addresses given up on, and when
	damaged    map[string]bool      // shows whose damaged copy a launch archived (damaged.go)
}

// GuardStatus is the part of Status about what the engine refused.
type GuardStatus struct {
	// BadMessages counts peer messages refused as malformed or out of
	// place; each closed its connection and raised a protocol fault.
	BadMessages uint64
	// ConnsRefused counts peer connections closed before their handshake
	// because their source address already had as many handshakes under
	// way as it may.
	ConnsRefused uint64
	// BeaconsRefused counts beacons of this show network that were not
	// acted on: from another address than the one they name, or too old.
	BeaconsRefused uint64
}

func (e *Engine) guardStatus() GuardStatus {
	return GuardStatus{
		BadMessages:    e.guard.badMessages.Load(),
		ConnsRefused:   e.guard.connsRefused.Load(),
		BeaconsRefused: e.guard.beaconsRefused.Load(),
	}
}
