package firmware

import (
	"consoled/hal"
	"consoled/replication"
)

// FaultLevel is how bad the worst current fault is.
type FaultLevel int

const (
	FaultNone   FaultLevel = iota
	FaultBlink             // needs attention: stale copy refused, conflict archived, protocol or disk fault
	FaultSteady            // the service cannot work
)

// PanelState is everything the front panel shows.
type PanelState struct {
	Role    replication.Role
	Syncing bool // a copy is being transferred
	LinkUp  bool
	Fault   FaultLevel
}

// PanelLEDs maps the service's state to the LEDs. It is a pure function so the
// whole mapping is one table in the tests.
func PanelLEDs(s PanelState) map[string]hal.LEDState {
	leds := map[string]hal.LEDState{
		hal.LEDActive: hal.Off,
		hal.LEDBackup: hal.Off,
		hal.LEDSync:   hal.Off,
		hal.LEDLink:   hal.Off,
		hal.LEDFault:  hal.Off,
	}
	switch s.Role {
	case replication.RoleActive:
		leds[hal.LEDActive] = hal.On
	case replication.RoleBackup:
		leds[hal.LEDBackup] = hal.On
	case replication.RoleSyncing:
		// Joining as a backup: BACKUP is lit from the start of the join so the
		// operator sees which role is coming; SYNC tells it is not ready yet.
		leds[hal.LEDBackup] = hal.On
		leds[hal.LEDSync] = hal.Blink
	}
	if s.Syncing {
		leds[hal.LEDSync] = hal.Blink
	}
	if s.LinkUp {
		leds[hal.LEDLink] = hal.On
	}
	switch s.Fault {
	case FaultBlink:
		leds[hal.LEDFault] = hal.Blink
	case FaultSteady:
		leds[hal.LEDFault] = hal.On
	}
	return leds
}
