package firmware

import (
	"sort"
	"sync"
	"time"

	"consoled/api"
)

// faults is the set of current faults, by kind. A kind is set again when the
// fault recurs and cleared when the thing works again or the operator acks it.
type faults struct {
	mu      sync.Mutex
	m       map[string]faultEntry
	changed chan struct{}
}

type faultEntry struct {
	level FaultLevel
	msg   string
	since time.Time
}

func (f *faults) set(kind string, level FaultLevel, msg string) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]faultEntry{}
	}
	e, had := f.m[kind]
	if !had {
		e.since = time.Now()
	}
	e.level, e.msg = level, msg
	f.m[kind] = e
	f.mu.Unlock()
	f.poke()
}

func (f *faults) clear(kind string) {
	f.mu.Lock()
	_, had := f.m[kind]
	delete(f.m, kind)
	f.mu.Unlock()
	if had {
		f.poke()
	}
}

func (f *faults) poke() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *faults) level() FaultLevel {
	f.mu.Lock()
	defer f.mu.Unlock()
	worst := FaultNone
	for _, e := range f.m {
		worst = max(worst, e.level)
	}
	return worst
}

func (f *faults) list() []api.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []api.Fault{}
	for k, e := range f.m {
		lvl := "blink"
		if e.level == FaultSteady {
			lvl = "steady"
		}
		out = append(out, api.Fault{Kind: k, Level: lvl, Message: e.msg, Since: e.since})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
