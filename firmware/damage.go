package firmware

import "strings"

// syncDamageFault keeps the "copy" fault (FAULT blinks, status lists it) in
// step with the store's damaged copies: set when a launch check or a read
// finds one, cleared once it is archived or replaced.
func (s *Service) syncDamageFault() {
	var msgs []string
	for _, d := range s.store.Damaged() {
		msgs = append(msgs, d.Error())
	}
	want := strings.Join(msgs, "; ")
	s.faults.mu.Lock()
	cur, had := s.faults.m["copy"]
	s.faults.mu.Unlock()
	switch {
	case want == "" && had:
		s.faults.clear("copy")
	case want != "" && (!had || cur.msg != want):
		s.faults.set("copy", FaultBlink, want)
	}
}
