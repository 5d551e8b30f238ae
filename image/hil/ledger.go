package hil

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Ledger records every edit a console acknowledged (a success answer over
// remote control), to check at the end of each step that every one of them
// is in the live show of every console: "nothing acknowledged is ever
// lost". Each edit has a key of its own, so an edit without an answer (a
// power cut, a broken path) cannot hide a lost one under the same key.
type Ledger struct {
	mu     sync.Mutex
	acked  map[string]string
	n      int // edits made
	failed int // edits without a success answer: not acknowledged, may or may not be in the show
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{acked: map[string]string{}} }

// editTimeout bounds one edit. An edit during a failover waits for the
// successor (at most 5 s, README "When consoles come and go"), and TCG
// under load slows that down.
const editTimeout = 15 * time.Second

// Edit makes one edit with a key of its own on v over remote control,
// and records it when acknowledged.
func (l *Ledger) Edit(ctx context.Context, step string, v *VM) error {
	key := l.Next(step, v)
	value := fmt.Sprintf(`{"fade":3,"by":%q}`, v.Name)
	ctx, cancel := context.WithTimeout(ctx, editTimeout)
	defer cancel()
	_, err := v.Ctl().Set(ctx, key, value)
	l.Record(key, value, err)
	if err != nil {
		return fmt.Errorf("%s: set %s: %w", v.Name, key, err)
	}
	return nil
}

// Record notes an edit made elsewhere (consolectl set): acknowledged when
// err is nil.
func (l *Ledger) Record(key, value string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed++
		return
	}
	l.acked[key] = value
}

// Next is a key for an edit made outside Edit.
func (l *Ledger) Next(step string, v *VM) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return fmt.Sprintf("cue/%s.%s.%d", step, v.Name, l.n)
}

// Counts is how many edits were acknowledged and how many got no success
// answer.
func (l *Ledger) Counts() (acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.failed
}

// Write makes edits on v one after another until stop is called, as a
// desk's operator programming through a failover would: the load under
// which the step measures, and acknowledged edits in flight when a cable
// is pulled or the power cut. stop waits for the writer to end.
func (l *Ledger) Write(ctx context.Context, step string, v *VM) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if ok, _ := v.Running(); !ok {
				return
			}
			// Ten edits a second at most: each is TLS on an emulated CPU,
			// and a console kept busy misses its heartbeats.
			pause := 100 * time.Millisecond
			if err := l.Edit(ctx, step, v); err != nil {
				pause = 300 * time.Millisecond
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// FirstAck makes edits on v one after another, each sent after since, until
// one is acknowledged, and returns how long after since that was. It gives
// up after timeout.
func (l *Ledger) FirstAck(ctx context.Context, step string, v *VM, since time.Time, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithDeadline(ctx, since.Add(timeout))
	defer cancel()
	var last error
	for {
		if err := l.Edit(ctx, step, v); err == nil {
			return time.Since(since), nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s took no edit within %s: %w", v.Name, timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// CheckResult is what Check found.
type CheckResult struct {
	Acked   int      // acknowledged edits checked
	Lost    int      // of those, missing or changed on at least one console
	Missing []string // the first few lost: console, key
	Digest  string   // the show's digest, the same on every console
	Objects int      // objects in the show
}

// Check reads the live show of every console of vms over remote control
// and looks up every acknowledged edit in each. It fails when one is lost
// or when the consoles' digests differ.
func (l *Ledger) Check(ctx context.Context, vms []*VM) (CheckResult, error) {
	l.mu.Lock()
	acked := make(map[string]string, len(l.acked))
	for k, v := range l.acked {
		acked[k] = v
	}
	l.mu.Unlock()
	res := CheckResult{Acked: len(acked)}
	lost := map[string]bool{}
	var digests []string
	for _, v := range vms {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		d, err := v.Ctl().Dump(ctx)
		cancel()
		if err != nil {
			return res, fmt.Errorf("%s: dump: %w", v.Name, err)
		}
		have := make(map[string]string, len(d.Objects))
		for _, o := range d.Objects {
			have[o.Key] = o.Value
		}
		keys := make([]string, 0, len(acked))
		for k := range acked {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if got, ok := have[k]; !ok || got != acked[k] {
				if !lost[k] && len(res.Missing) < 5 {
					res.Missing = append(res.Missing, v.Name+": "+k)
				}
				lost[k] = true
			}
		}
		digests = append(digests, fmt.Sprintf("%s %s (%d objects, seq %d)", v.Name, d.Digest, len(d.Objects), d.Seq))
		if res.Digest == "" {
			res.Digest, res.Objects = d.Digest, len(d.Objects)
		} else if d.Digest != res.Digest {
			res.Digest = "differ"
		}
	}
	res.Lost = len(lost)
	var errs []error
	if res.Lost > 0 {
		errs = append(errs, fmt.Errorf("acknowledged edits lost: %d of %d (first: %v)", res.Lost, res.Acked, res.Missing))
	}
	if res.Digest == "differ" {
		errs = append(errs, fmt.Errorf("the consoles hold different shows: %v", digests))
	}
	return res, errors.Join(errs...)
}

// names lists the VMs' names, for messages.
func names(vms []*VM) []string {
	var out []string
	for _, v := range vms {
		out = append(out, v.Name)
	}
	return slices.Clip(out)
}
