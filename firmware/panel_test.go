package firmware

import (
	"testing"

	"consoled/hal"
	"consoled/replication"
)

func TestPanelLEDs(t *testing.T) {
	const o, on, bl = hal.Off, hal.On, hal.Blink
	type leds struct{ active, backup, sync, link, fault hal.LEDState }
	for _, tc := range []struct {
		name string
		in   PanelState
		want leds
	}{
		{"off, no link", PanelState{Role: replication.RoleOff}, leds{o, o, o, o, o}},
		{"off, link", PanelState{Role: replication.RoleOff, LinkUp: true}, leds{o, o, o, on, o}},
		{"active", PanelState{Role: replication.RoleActive, LinkUp: true}, leds{on, o, o, on, o}},
		{"active, link lost", PanelState{Role: replication.RoleActive}, leds{on, o, o, o, o}},
		{"backup", PanelState{Role: replication.RoleBackup, LinkUp: true}, leds{o, on, o, on, o}},
		{"joining", PanelState{Role: replication.RoleSyncing, LinkUp: true}, leds{o, on, bl, on, o}},
		{"backup catching up", PanelState{Role: replication.RoleBackup, Syncing: true, LinkUp: true}, leds{o, on, bl, on, o}},
		{"active sending a copy", PanelState{Role: replication.RoleActive, Syncing: true, LinkUp: true}, leds{on, o, bl, on, o}},
		{"stale refused", PanelState{Role: replication.RoleOff, LinkUp: true, Fault: FaultBlink}, leds{o, o, o, on, bl}},
		{"cannot work", PanelState{Role: replication.RoleOff, Fault: FaultSteady}, leds{o, o, o, o, on}},
		{"active with disk fault", PanelState{Role: replication.RoleActive, LinkUp: true, Fault: FaultBlink}, leds{on, o, o, on, bl}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PanelLEDs(tc.in)
			want := map[string]hal.LEDState{
				hal.LEDActive: tc.want.active, hal.LEDBackup: tc.want.backup, hal.LEDSync: tc.want.sync,
				hal.LEDLink: tc.want.link, hal.LEDFault: tc.want.fault,
			}
			if len(got) != len(hal.LEDNames) {
				t.Errorf("got %d LEDs, want %d: %v", len(got), len(hal.LEDNames), got)
			}
			for n, w := range want {
				if got[n] != w {
					t.Errorf("%s = %s, want %s", n, got[n], w)
				}
			}
		})
	}
}
