package hil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// How often a step reads a console's status while it waits for a change
// (see WaitStatus), and how long it waits at most.
const (
	pollBoot   = 100 * time.Millisecond
	pollChange = 5 * time.Millisecond
	// Two backups read at once while they take over: less often, so that
	// the reads do not slow the takeover they time.
	pollSuccessor = 20 * time.Millisecond
	// Every console read at once, while they settle.
	pollSettle = 250 * time.Millisecond
	// Under TCG, with three VMs sharing two cores with everything else the
	// machine runs, a boot takes 10–60 s.
	bootTimeout   = 3 * time.Minute
	changeTimeout = 10 * time.Second
)

// ready: consoled answers over the management NIC and sees its show NIC's
// carrier.
func ready(st Status) bool { return st.Link == "up" && st.LEDs["link"] == "on" }

// BootResult is step 1's outcome.
type BootResult struct {
	// Init is the baseline of Ready: power on → gokrazy's own web server
	// answers over the management NIC (kernel up, init running, the NIC's
	// address from DHCP), per VM.
	Init  []time.Duration
	Ready []time.Duration // per VM: power on → ready
	Mesh  time.Duration   // power on → every console connected to every other
}

// BootAll (step 1) powers every VM on at once and waits until each console
// is ready, then until every console is connected to every other over the
// show LAN (discovery beacons, TLS from the shared key).
func (r *Rig) BootAll(ctx context.Context) (BootResult, error) {
	var res BootResult
	res.Ready = make([]time.Duration, len(r.VMs))
	res.Init = make([]time.Duration, len(r.VMs))
	start := time.Now()
	for _, v := range r.VMs {
		if err := v.Start(); err != nil {
			return res, err
		}
	}
	errs := make([]error, 2*len(r.VMs))
	var wg sync.WaitGroup
	for i, v := range r.VMs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res.Ready[i], errs[i] = r.WaitReady(ctx, v)
		}()
		go func() {
			defer wg.Done()
			res.Init[i], errs[len(r.VMs)+i] = waitInit(ctx, v)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	if err := r.WaitMesh(ctx, r.VMs); err != nil {
		return res, err
	}
	res.Mesh = time.Since(start)
	return res, nil
}

// WaitReady waits until v, powered on, is ready, and returns how long
// after power-on that was.
func (r *Rig) WaitReady(ctx context.Context, v *VM) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	_, at, err := v.WaitStatus(ctx, pollBoot, ready)
	if err != nil {
		return 0, fmt.Errorf("%s did not boot to ready: %w", v.Name, err)
	}
	d := at.Sub(v.PoweredOn())
	r.opts.Logf("%s ready %.1f s after power-on", v.Name, d.Seconds())
	return d, nil
}

// waitInit waits until gokrazy's web server answers (any HTTP answer: it
// asks for its password) over v's management NIC.
func waitInit(ctx context.Context, v *VM) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+v.Addr(GuestGokrazyPort)+"/", nil)
		if resp, err := statusClient.Do(req); err == nil {
			resp.Body.Close()
			return time.Since(v.PoweredOn()), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: gokrazy's web server did not answer: %w", v.Name, ctx.Err())
		case <-time.After(pollBoot):
		}
	}
}

// StatusRTT reads v's status n times in a row and returns how long each
// read took: the floor under every time measured through the status page.
func StatusRTT(ctx context.Context, v *VM, n int) ([]time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := v.Status(ctx); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(start))
		time.Sleep(pollChange)
	}
	return ds, nil
}

// WaitMesh waits until each of vms is connected to all the others.
func (r *Rig) WaitMesh(ctx context.Context, vms []*VM) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for _, v := range vms {
		var others []string
		for _, o := range vms {
			if o != v {
				others = append(others, o.Name)
			}
		}
		_, _, err := v.WaitStatus(ctx, pollBoot, func(st Status) bool {
			c := st.Connected()
			for _, o := range others {
				if !slices.Contains(c, o) {
					return false
				}
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("%s is not connected to %v: %w", v.Name, others, err)
		}
	}
	return nil
}

// CableResult is step 3's outcome, per trial: how long after QEMU's
// set_link the pulled console's LINK LED changed, and how long until a
// backup took over, as read from the status pages over the management NICs.
type CableResult struct {
	Pulled    []string        // whose cable was pulled: the active of the time
	Off       []time.Duration // set_link off → LINK LED off
	Successor []time.Duration // set_link off → a backup is active
	On        []time.Duration // set_link on → LINK LED on
	Merged    []time.Duration // set_link on → one active again, every console at its seq
}

// CablePull (step 3) pulls the active's show cable trials times with QEMU's
// set_link, while every console takes edits: the guest's virtio NIC loses
// its carrier, consoled reads it through netlink and turns its LINK LED
// off, a backup takes over, and both sides take edits (the pulled console
// over its management NIC, its show NIC down). Then the cable goes back
// in: the two actives meet and merge, and the consoles settle on one
// active. Every acknowledged edit is checked on every console at the end.
func (r *Rig) CablePull(ctx context.Context, l *Ledger, trials int) (CableResult, error) {
	var res CableResult
	waitLED := func(v *VM, start time.Time, led string) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, changeTimeout)
		defer cancel()
		_, at, err := v.WaitStatus(ctx, pollChange, func(st Status) bool { return st.LEDs["link"] == led })
		if err != nil {
			return 0, fmt.Errorf("set_link %s: LINK LED not %s: %w", ShowNIC, led, err)
		}
		return at.Sub(start), nil
	}
	for i := 0; i < trials; i++ {
		active, err := r.WaitSettled(ctx, r.VMs, settleTimeout)
		if err != nil {
			return res, err
		}
		var backups []*VM
		for _, v := range r.VMs {
			if v != active {
				backups = append(backups, v)
			}
		}
		var stops []func()
		for _, v := range r.VMs {
			stops = append(stops, l.Write(ctx, "s3", v))
		}
		stopAll := func() {
			for _, stop := range stops {
				stop()
			}
		}
		// A random pause, so that the trials do not lock to the phase of
		// the 100 ms netlink poll or the heartbeats.
		time.Sleep(50*time.Millisecond + rand.N(200*time.Millisecond))
		start := time.Now()
		if err := active.SetLink(ctx, ShowNIC, false); err != nil {
			stopAll()
			return res, err
		}
		var (
			off, succ       time.Duration
			offErr, succErr error
			wg              sync.WaitGroup
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			off, offErr = waitLED(active, start, "off")
		}()
		go func() {
			defer wg.Done()
			succ, succErr = waitSuccessor(ctx, backups, start)
		}()
		wg.Wait()
		if err := errors.Join(offErr, succErr); err != nil {
			stopAll()
			return res, fmt.Errorf("%s's cable pulled: %w", active.Name, err)
		}
		// Both sides take edits, each sent now: the pulled console alone,
		// and the successor's side (a backup's go to the successor).
		acks := make([]error, len(r.VMs))
		for j, v := range r.VMs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, acks[j] = l.FirstAck(ctx, "s3", v, time.Now(), 2*changeTimeout)
			}()
		}
		wg.Wait()
		stopAll()
		if err := errors.Join(acks...); err != nil {
			return res, fmt.Errorf("%s's cable pulled: %w", active.Name, err)
		}
		time.Sleep(50*time.Millisecond + rand.N(200*time.Millisecond))
		start = time.Now()
		if err := active.SetLink(ctx, ShowNIC, true); err != nil {
			return res, err
		}
		on, err := waitLED(active, start, "on")
		if err != nil {
			return res, err
		}
		if _, err := r.WaitSettled(ctx, r.VMs, settleTimeout); err != nil {
			return res, fmt.Errorf("%s's cable back in: %w", active.Name, err)
		}
		res.Pulled = append(res.Pulled, active.Name)
		res.Off = append(res.Off, off)
		res.Successor = append(res.Successor, succ)
		res.On = append(res.On, on)
		res.Merged = append(res.Merged, time.Since(start))
		r.opts.Logf("cable trial %d: %s pulled: LED off %s, successor %s; plugged: LED on %s, merged %s",
			i+1, active.Name, ms(off), ms(succ), ms(on), ms(res.Merged[i]))
	}
	return res, nil
}

// waitSuccessor waits until one of backups is active for the show, and
// returns how long after start that was.
func waitSuccessor(ctx context.Context, backups []*VM, start time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, changeTimeout)
	defer cancel()
	found := make(chan time.Time, len(backups))
	errs := make(chan error, len(backups))
	for _, v := range backups {
		go func() {
			_, at, err := v.WaitStatus(ctx, pollSuccessor, func(st Status) bool { return st.Role == "active" && st.Show == Show })
			if err != nil {
				errs <- err
				return
			}
			found <- at
		}()
	}
	var all []error
	for range backups {
		select {
		case at := <-found:
			return at.Sub(start), nil
		case err := <-errs:
			all = append(all, err)
		}
	}
	return 0, fmt.Errorf("no backup took over: %w", errors.Join(all...))
}

// PowerCutResult is step 4's outcome, per trial.
type PowerCutResult struct {
	Cut      []string        // whose power was cut: the active of the time
	Perm     []PermReport    // its /perm as the cut left it
	Failover []time.Duration // kill -9 → an edit sent after it acknowledged on every survivor
	Ready    []time.Duration // power on again → ready
	Resumed  []time.Duration // power on again → a backup of the show again (--resume: joined, its copy in)
}

// PowerCuts (step 4) cuts the power of the active (kill -9 of its QEMU)
// trials times while every console takes edits. A backup takes over: the
// time until each survivor acknowledges an edit again is measured. /perm
// of the cut console is checked from the host (ReadPerm), and it is
// powered on again: with --resume it launches the show again and joins as
// a backup. Reboots overlap the next trial: the active is cut as soon as
// the consoles not rebooting (two at least) have settled on it, so two may
// be down at once and one console carries the show alone (it holds every
// acknowledged edit). At
// the end every console is back and holds every acknowledged edit.
func (r *Rig) PowerCuts(ctx context.Context, l *Ledger, trials int) (res PowerCutResult, err error) {
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		bootErr   []error
		rebooting = map[*VM]bool{}
	)
	isRebooting := func(v *VM) bool {
		mu.Lock()
		defer mu.Unlock()
		return rebooting[v]
	}
	rctx, cancel := context.WithCancel(ctx)
	defer func() {
		// A reboot still going when a trial failed ends before the rig's
		// Close powers everything off.
		if err != nil {
			cancel()
		}
		wg.Wait()
		cancel()
	}()
	for i := 0; i < trials; i++ {
		active, survivors, err := r.waitCuttable(ctx, isRebooting)
		if err != nil {
			return res, err
		}
		var stops []func()
		for _, v := range append([]*VM{active}, survivors...) {
			stops = append(stops, l.Write(ctx, "s4", v))
		}
		stopAll := func() {
			for _, stop := range stops {
				stop()
			}
		}
		// Edits in flight when the power goes.
		time.Sleep(200*time.Millisecond + rand.N(300*time.Millisecond))
		cut := time.Now()
		if err := active.PowerCut(); err != nil {
			stopAll()
			return res, err
		}
		acks := make([]time.Duration, len(survivors))
		errs := make([]error, len(survivors))
		var pwg sync.WaitGroup
		for j, v := range survivors {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				acks[j], errs[j] = l.FirstAck(ctx, "s4", v, cut, 3*changeTimeout)
			}()
		}
		pwg.Wait()
		stopAll()
		if err := errors.Join(errs...); err != nil {
			return res, fmt.Errorf("power cut of %s: %w", active.Name, err)
		}
		failover := slices.Max(acks)
		r.opts.Logf("power cut %d: %s cut; edits acknowledged again on %v after %s", i+1, active.Name, names(survivors), ms(failover))
		mu.Lock()
		res.Cut = append(res.Cut, active.Name)
		res.Failover = append(res.Failover, failover)
		rebooting[active] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			perm, ready, resumed, err := r.reboot(rctx, active)
			mu.Lock()
			defer mu.Unlock()
			delete(rebooting, active)
			if err != nil {
				bootErr = append(bootErr, err)
				return
			}
			res.Perm = append(res.Perm, perm)
			res.Ready = append(res.Ready, ready)
			res.Resumed = append(res.Resumed, resumed)
		}()
	}
	wg.Wait()
	if err := errors.Join(bootErr...); err != nil {
		return res, err
	}
	_, err = r.WaitSettled(ctx, r.VMs, settleTimeout)
	return res, err
}

// waitCuttable waits until the consoles that are on and not rebooting
// (rebooting tells) are at least two and have settled on the show: one
// active, the others its backups at its seq. Cutting the active then loses
// nothing. It returns the active and its backups.
func (r *Rig) waitCuttable(ctx context.Context, rebooting func(*VM) bool) (*VM, []*VM, error) {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout+settleTimeout)
	defer cancel()
	why := "fewer than two consoles on"
	for {
		var on []*VM
		for _, v := range r.VMs {
			if ok, _ := v.Running(); ok && !rebooting(v) {
				on = append(on, v)
			}
		}
		if len(on) >= 2 {
			sts, errs := statuses(ctx, on)
			active, now := settled(on, sts, errs)
			if active != nil {
				var backups []*VM
				for _, v := range on {
					if v != active {
						backups = append(backups, v)
					}
				}
				return active, backups, nil
			}
			if ctx.Err() == nil {
				why = now + "; " + describe(on, sts, errs)
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("no active with a backup at its seq: %s", why)
		case <-time.After(pollSettle):
		}
	}
}

// reboot checks /perm of v, whose power was cut, and powers it on again:
// it must come back ready, as the same console with the same key, and
// resume the show as a backup (--resume).
func (r *Rig) reboot(ctx context.Context, v *VM) (perm PermReport, ready, resumed time.Duration, err error) {
	want, err := r.provisioned(v)
	if err != nil {
		return perm, 0, 0, err
	}
	if perm, err = v.ReadPerm(ctx, want); err != nil {
		return perm, 0, 0, err
	}
	if ctx.Err() != nil {
		return perm, 0, 0, ctx.Err()
	}
	if err := v.Start(); err != nil {
		return perm, 0, 0, err
	}
	if ready, err = r.WaitReady(ctx, v); err != nil {
		return perm, 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	st, at, err := v.WaitStatus(ctx, pollBoot, func(st Status) bool {
		return st.Role == "backup" && st.Show == Show && !st.Syncing && st.Resume != nil && st.Resume.Outcome == "joined"
	})
	if err != nil {
		return perm, ready, 0, fmt.Errorf("%s did not resume the show as a backup: %w", v.Name, err)
	}
	if st.Console != v.Name || st.NetworkKey == "" {
		return perm, ready, 0, fmt.Errorf("%s came back as %q with key %q", v.Name, st.Console, st.NetworkKey)
	}
	resumed = at.Sub(v.PoweredOn())
	r.opts.Logf("%s back: ready %.1f s, a backup of %s again (resumed) %.1f s after power-on", v.Name, ready.Seconds(), st.Active, resumed.Seconds())
	return perm, ready, resumed, nil
}

// BlackoutResult is step 5's outcome.
type BlackoutResult struct {
	Ready   []time.Duration // per console: power on → ready
	Active  string          // the console that launched the show again
	Settled time.Duration   // power on → one active, the others its backups at its seq
	Edits   time.Duration   // power on → an edit acknowledged again
}

// Blackout (step 5) cuts the power of every console at once while they
// take edits, and powers them all on again: with --resume they find which
// copy holds the most and settle on one active, and every acknowledged
// edit is in the show of each.
func (r *Rig) Blackout(ctx context.Context, l *Ledger) (BlackoutResult, error) {
	var res BlackoutResult
	if _, err := r.WaitSettled(ctx, r.VMs, settleTimeout); err != nil {
		return res, err
	}
	var stops []func()
	for _, v := range r.VMs {
		stops = append(stops, l.Write(ctx, "s5", v))
	}
	time.Sleep(300*time.Millisecond + rand.N(300*time.Millisecond))
	var wg sync.WaitGroup
	cutErrs := make([]error, len(r.VMs))
	for i, v := range r.VMs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cutErrs[i] = v.PowerCut()
		}()
	}
	wg.Wait()
	for _, stop := range stops {
		stop()
	}
	if err := errors.Join(cutErrs...); err != nil {
		return res, err
	}
	start := time.Now()
	for _, v := range r.VMs {
		if err := v.Start(); err != nil {
			return res, err
		}
	}
	res.Ready = make([]time.Duration, len(r.VMs))
	errs := make([]error, len(r.VMs))
	for i, v := range r.VMs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Ready[i], errs[i] = r.WaitReady(ctx, v)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	active, err := r.WaitSettled(ctx, r.VMs, settleTimeout)
	if err != nil {
		return res, fmt.Errorf("after the blackout: %w", err)
	}
	res.Active = active.Name
	res.Settled = time.Since(start)
	if res.Edits, err = l.FirstAck(ctx, "s5", active, start, time.Since(start)+changeTimeout); err != nil {
		return res, err
	}
	return res, nil
}

// UpdateResult is the update step's outcome.
type UpdateResult struct {
	Written time.Duration // update.sh: the new root, boot and MBR written and switched to
	Ready   time.Duration // update.sh started → ready again, booted from the other root
}

// Update updates running console v over the network with image/update.sh
// from the rig's image, as the README says to update a console: v reboots
// from the other root partition and must come back ready, as the same
// console with the same key (/perm kept), and rejoin the others; launched
// again, it joins the show as a backup.
func (r *Rig) Update(ctx context.Context, v *VM) (UpdateResult, error) {
	var res UpdateResult
	before, err := v.Status(ctx)
	if err != nil {
		return res, err
	}
	serial := v.SerialLog()
	fi, err := os.Stat(serial)
	if err != nil {
		return res, err
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, filepath.Join(r.opts.Root, "image", "update.sh"), v.Addr(GuestGokrazyPort), r.opts.Image).CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("%s: update.sh: %v: %s", v.Name, err, out)
	}
	res.Written = time.Since(start)
	// The new boot's kernel command line names the other root partition
	// (gokrazy's switch: partition 3 is PARTNROFF=2 from the boot partition).
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for {
		b, _ := os.ReadFile(serial)
		if int64(len(b)) > fi.Size() && bytes.Contains(b[fi.Size():], []byte("PARTNROFF=2")) {
			break
		}
		if ok, why := v.Running(); !ok {
			return res, fmt.Errorf("%s: %v", v.Name, why)
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s did not boot from the updated root partition: %w", v.Name, ctx.Err())
		case <-time.After(pollBoot):
		}
	}
	after, _, err := v.WaitStatus(ctx, pollBoot, ready)
	if err != nil {
		return res, fmt.Errorf("%s did not come back after the update: %w", v.Name, err)
	}
	res.Ready = time.Since(start)
	if after.Console != before.Console || after.NetworkKey != before.NetworkKey {
		return res, fmt.Errorf("%s came back as %s with key %s, was %s with key %s", v.Name, after.Console, after.NetworkKey, before.Console, before.NetworkKey)
	}
	if err := r.WaitMesh(ctx, r.VMs); err != nil {
		return res, err
	}
	if before.Show == "" {
		return res, nil
	}
	// The update stopped consoled with SIGTERM, which logs off: the console
	// stays off the show (--resume has nothing to resume) until launched
	// again, and then joins as a backup.
	if _, err := r.Remote(ctx, v, "launch", before.Show); err != nil {
		return res, err
	}
	_, err = r.WaitSettled(ctx, r.VMs, settleTimeout)
	return res, err
}

// provisioned is what perm.sh wrote into v's /perm/consoled.
func (r *Rig) provisioned(v *VM) (map[string][]byte, error) {
	want := map[string][]byte{}
	for name, src := range map[string]string{
		"network.key":  r.Key,
		"config.yaml":  v.Dir + "/config.yaml",
		"network.yaml": v.Dir + "/network.yaml",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		want[name] = b
	}
	return want, nil
}

// Percentile is the p-th percentile (0–100) of ds, nearest rank.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
