package hil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"consoled/api"
)

// Show is the show the steps launch.
const Show = "hil"

// settleTimeout bounds waiting for the consoles to settle on the show
// after a change (a merge, a rejoin): under TCG a catch-up or a merge
// takes seconds, more while a VM boots beside them.
const settleTimeout = 2 * time.Minute

// Remote runs consolectl --remote on v (its peer port through the
// management NIC, TLS from the show network's key) and returns what it
// printed. A command that could not reach the console (the connection, its
// TLS handshake or the edit stream's opening failed, which on an emulated
// CPU under load happens), or an edit whose outcome is unknown (exit 4), is
// run again: the command did not happen, or doing it twice is harmless.
func (r *Rig) Remote(ctx context.Context, v *VM, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		cmd := exec.CommandContext(ctx, r.Consolectl, append([]string{"--remote", v.Addr(GuestPeerPort), "--network-key", r.Key}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err == nil {
			return out, nil
		}
		again := exitCode(err) == 4 || strings.Contains(stderr.String(), "cannot reach consoled") ||
			strings.Contains(stderr.String(), "opening an edit stream")
		err = fmt.Errorf("%s: consolectl %s: %v: %s", v.Name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		if !again || ctx.Err() != nil {
			return out, err
		}
		r.opts.Logf("%v; again", err)
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(time.Second):
		}
	}
}

// LaunchResult is step 2's outcome.
type LaunchResult struct {
	Active string
	Launch time.Duration   // consolectl launch on the first console → it is active
	Join   []time.Duration // consolectl launch on each other → a backup of it
	Check  CheckResult
}

// Launch (step 2) launches the show with consolectl --remote on the first
// console, then on the others: one active, two backups. Then edits on all
// three, a few with consolectl set and more over the edit stream (on a
// backup they go to the active), and the same digest everywhere
// (consolectl dump --json), holding every acknowledged edit.
func (r *Rig) Launch(ctx context.Context, l *Ledger) (LaunchResult, error) {
	var res LaunchResult
	first := r.VMs[0]
	res.Active = first.Name
	for _, v := range r.VMs {
		start := time.Now()
		if _, err := r.Remote(ctx, v, "launch", Show); err != nil {
			return res, err
		}
		want := func(st Status) bool { return st.Role == "active" && st.Show == Show }
		if v != first {
			want = func(st Status) bool { return st.Role == "backup" && st.Show == Show && st.Active == first.Name }
		}
		wctx, cancel := context.WithTimeout(ctx, settleTimeout)
		_, at, err := v.WaitStatus(wctx, pollBoot, want)
		cancel()
		if err != nil {
			return res, fmt.Errorf("after consolectl launch %s: %w", Show, err)
		}
		if v == first {
			res.Launch = at.Sub(start)
		} else {
			res.Join = append(res.Join, at.Sub(start))
		}
	}
	for _, v := range r.VMs {
		for i := 0; i < 3; i++ {
			key := l.Next("s2", v)
			value := fmt.Sprintf(`{"fade":%d}`, i)
			_, err := r.Remote(ctx, v, "set", key, value)
			l.Record(key, value, err)
			if err != nil {
				return res, err
			}
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, v := range r.VMs {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// An edit without an answer (a console that stalled past
				// the peer timeout makes its peers fail over) is made
				// again with a key of its own, as an operator would.
				for i := 0; i < 10; i++ {
					if _, err := l.FirstAck(ctx, "s2", v, time.Now(), time.Minute); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return res, errs[0]
	}
	if _, err := r.WaitSettled(ctx, r.VMs, settleTimeout); err != nil {
		return res, err
	}
	var digests []string
	for _, v := range r.VMs {
		out, err := r.Remote(ctx, v, "dump", "--json")
		if err != nil {
			return res, err
		}
		var d api.Dump
		if err := json.Unmarshal(out, &d); err != nil {
			return res, fmt.Errorf("%s: consolectl dump --json: %w", v.Name, err)
		}
		digests = append(digests, d.Digest)
	}
	if len(slices.Compact(slices.Clone(digests))) != 1 {
		return res, fmt.Errorf("consolectl dump: the digests differ: %v", digests)
	}
	var err error
	res.Check, err = l.Check(ctx, r.VMs)
	return res, err
}

// statuses reads the status of every console of vms at once; a console
// that does not answer has a zero Status and its error in errs.
func statuses(ctx context.Context, vms []*VM) ([]Status, []error) {
	sts := make([]Status, len(vms))
	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	for i, v := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sts[i], errs[i] = v.Status(ctx)
		}()
	}
	wg.Wait()
	return sts, errs
}

// settled returns the active of vms if they have settled on the show: one
// active, every other a backup that follows it and holds its seq, each
// connected to every other; else nil and why not.
func settled(vms []*VM, sts []Status, errs []error) (*VM, string) {
	var active *VM
	var ast Status
	for i, v := range vms {
		if errs[i] != nil {
			return nil, errs[i].Error()
		}
		if sts[i].Role == "active" && sts[i].Show == Show {
			if active != nil {
				return nil, fmt.Sprintf("two actives: %s and %s", active.Name, v.Name)
			}
			active, ast = v, sts[i]
		}
	}
	if active == nil {
		return nil, "no active"
	}
	for i, v := range vms {
		st := sts[i]
		if v != active && (st.Role != "backup" || st.Active != active.Name || st.Seq != ast.Seq || st.Syncing) {
			return nil, fmt.Sprintf("%s: %s; active %s at seq %d", v.Name, st, active.Name, ast.Seq)
		}
		for _, o := range vms {
			if o != v && !slices.Contains(st.Connected(), o.Name) {
				return nil, fmt.Sprintf("%s is not connected to %s", v.Name, o.Name)
			}
		}
	}
	return active, ""
}

// describe is the consoles' statuses in brief, for messages.
func describe(vms []*VM, sts []Status, errs []error) string {
	var b strings.Builder
	for i, v := range vms {
		if i > 0 {
			b.WriteString("; ")
		}
		if errs[i] != nil {
			fmt.Fprintf(&b, "%s: %v", v.Name, errs[i])
		} else {
			fmt.Fprintf(&b, "%s: %s", v.Name, sts[i])
		}
	}
	return b.String()
}

// WaitSettled waits until the consoles of vms have settled on the show
// (see settled) and returns the active.
func (r *Rig) WaitSettled(ctx context.Context, vms []*VM, timeout time.Duration) (*VM, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var why string
	for {
		sts, errs := statuses(ctx, vms)
		a, now := settled(vms, sts, errs)
		if a != nil {
			return a, nil
		}
		if ctx.Err() == nil {
			why = now + "; " + describe(vms, sts, errs)
		}
		for _, v := range vms {
			if ok, err := v.Running(); !ok {
				return nil, fmt.Errorf("%s: %v", v.Name, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%v did not settle on one active with its backups in %s: %s", names(vms), timeout, why)
		case <-time.After(pollSettle):
		}
	}
}
