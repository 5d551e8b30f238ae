package firmware

import (
	"sync"
	"time"

	"consoled/api"
)

// faultStamps lists each fault once and gives it a real time. The engine
// reports a protocol fault per peer address, as text without a time, so the
// same one may come several times (a console reached at two addresses) and
// its time would be the zero time: the service counts the copies and
// remembers when it first saw each fault, until it goes away.
type faultStamps struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (f *faultStamps) stamp(now time.Time, in []api.Fault) []api.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = map[string]time.Time{}
	}
	out := make([]api.Fault, 0, len(in))
	at := map[string]int{} // key → index in out
	for _, x := range in {
		key := x.Kind + "\x00" + x.Message
		if i, ok := at[key]; ok {
			out[i].Count = max(out[i].Count, 1) + 1
			if x.Level == "steady" {
				out[i].Level = "steady"
			}
			continue
		}
		if x.Since.IsZero() {
			t, ok := f.first[key]
			if !ok {
				t = now.UTC()
			}
			x.Since = t
		}
		f.first[key] = x.Since
		at[key] = len(out)
		out = append(out, x)
	}
	for key := range f.first {
		if _, ok := at[key]; !ok {
			delete(f.first, key) // gone: a return is a new fault
		}
	}
	return out
}
