package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"consoled/replication/store/storebench"
)

var (
	scaleSizes  = flag.String("scale-n", "2,3,5,8,12", "console counts of the scale section")
	scaleTrials = flag.Int("scale-trials", 5, "SIGKILL and SIGSTOP failover trials per console count (scale section)")
	scaleIdle   = flag.Duration("scale-idle", 6*time.Second, "idle window over which the scale section reads each console's CPU")
	scaleLat    = flag.Int("scale-lat", 2000, "edits at 1,000/s for the ack=all latency of the scale section")
	scaleOut    = flag.String("out", "bench-scale", "folder for the scale sections' SVG plots")
)

// scaleRow is every figure measured for one rig of n consoles.
type scaleRow struct {
	n    int
	loop bool // loopback with --peers, not the bridge

	mesh   time.Duration // processes started → every console connected to every other
	launch time.Duration // launch of the first → all others live backups (they launch at once)

	one, all         float64       // acknowledged edits/s, ack=one and ack=all
	allP50, allP99   time.Duration // ack=all latency at 1,000 edits/s
	rawP99           time.Duration // baseline: n bare Pebble DBs synced at once, p99
	cpuActive, cpuBk float64       // µs CPU per acked edit (ack=one run): active, mean backup
	cpuAll           float64       // µs CPU per acked edit, every console and the bench's clients together

	idleActive, idleBackup float64 // idle CPU, % of one core: active, mean of the backups
	idleTx                 float64 // idle bytes/s sent by the active's NIC (bridge only)
	fds                    int     // most descriptors open in one console, idle (each peer connection is one)

	rssActive, rssBackup float64 // MB after the ack=one run: active, largest backup

	base       []time.Duration // one edit from a backup, settled
	kill, stop []time.Duration // failover: edit acked again after SIGKILL / SIGSTOP of the active
}

func parseSizes() []int {
	var out []int
	for _, f := range strings.Split(*scaleSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			fatalf("-scale-n: %q is not a console count of 2 or more", f)
		}
		out = append(out, n)
	}
	return out
}

// scaleBench measures how consoled's costs grow with the number of consoles
// on a bridged show network, next to raw Pebble and a loopback rig of the
// same run, and draws each curve as an SVG.
func scaleBench(tmp string) {
	const heading = "## Scale: n consoles, one netns each, on a Linux bridge, discovery only (issue 19)"
	if why := rigUnavailable(); why != "" {
		fmt.Println(heading)
		fmt.Printf("skipped: %s\n\n", why)
		return
	}
	removeStaleRigs()
	ns := parseSizes()
	rawBefore, err := storebench.RawSyncedWriteRate(filepath.Join(tmp, "scale-raw1"), *writers, *dur)
	if err != nil {
		scaleFatal(err)
	}
	var rows []scaleRow
	for _, n := range ns {
		progress("scale: %d consoles on the bridge", n)
		rows = append(rows, measureScale(tmp, n, true))
	}
	progress("scale: 3 consoles on loopback")
	loop := measureScale(tmp, 3, false)
	rawAfter, err := storebench.RawSyncedWriteRate(filepath.Join(tmp, "scale-raw2"), *writers, *dur)
	if err != nil {
		scaleFatal(err)
	}
	printScale(heading, rows, loop, rawBefore, rawAfter)
	plotScale(rows, loop, (rawBefore+rawAfter)/2)
}

// progress tells the operator where a long section is, on stderr.
func progress(format string, v ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, v...)...)
}

func measureScale(tmp string, n int, netns bool) scaleRow {
	row := scaleRow{n: n, loop: !netns}
	name := fmt.Sprintf("n%d", n)
	if !netns {
		name = fmt.Sprintf("lo%d", n)
	}
	ctx := context.Background()
	value := `{"fade":3,"delay":0,"level":100}`

	// Phase 1, ack=one: start, mesh, launch, idle, throughput, failover.
	r := newRig(tmp, name, n, netns)
	t0 := time.Now()
	r.startAll()
	row.mesh = r.waitMesh(30 * time.Second)
	if netns {
		row.mesh = time.Since(t0)
	}
	r.launch(0, "bench")
	for i := 0; i < 100; i++ {
		if _, err := r.cs[0].client.Set(ctx, fmt.Sprintf("cue/%d", i), value); err != nil {
			scaleFatal(err)
		}
	}
	t0 = time.Now()
	r.launchRest(0, "bench")
	active, _ := r.waitSettled(60 * time.Second)
	row.launch = time.Since(t0)

	// Idle: heartbeats, beacons and nothing else.
	time.Sleep(time.Second)
	cpu0 := make([]time.Duration, n)
	for i, c := range r.cs {
		cpu0[i] = procCPU(c.cmd.Process.Pid)
	}
	tx0, w0 := r.txBytes(active), time.Now()
	time.Sleep(*scaleIdle)
	window := time.Since(w0)
	row.idleTx = float64(r.txBytes(active)-tx0) / window.Seconds()
	var bsum float64
	for i, c := range r.cs {
		pct := float64(procCPU(c.cmd.Process.Pid)-cpu0[i]) / float64(window) * 100
		if i == active {
			row.idleActive = pct
		} else {
			bsum += pct
		}
	}
	row.idleBackup = bsum / float64(n-1)
	for _, st := range r.statuses() {
		row.fds = max(row.fds, st.Descriptors.Open)
	}

	// Acknowledged edits, ack=one, on the active.
	for i, c := range r.cs {
		cpu0[i] = procCPU(c.cmd.Process.Pid)
	}
	self0 := cpuTimes(nil)[0]
	t1 := time.Now()
	row.one = throughput(*writers, *dur, func(w, i int) error {
		_, err := r.cs[active].client.Set(ctx, fmt.Sprintf("one/%d.%d", w, i), value)
		return err
	})
	edits := row.one * time.Since(t1).Seconds()
	row.cpuAll = float64(cpuTimes(nil)[0]-self0) / float64(time.Microsecond) / edits
	bsum = 0
	for i, c := range r.cs {
		us := float64(procCPU(c.cmd.Process.Pid)-cpu0[i]) / float64(time.Microsecond) / edits
		row.cpuAll += us
		if i == active {
			row.cpuActive = us
		} else {
			bsum += us
		}
	}
	row.cpuBk = bsum / float64(n-1)
	for i, c := range r.cs {
		if mb := rssMB(c.cmd.Process.Pid); i == active {
			row.rssActive = mb
		} else {
			row.rssBackup = math.Max(row.rssBackup, mb)
		}
	}
	active, _ = r.waitSettled(60 * time.Second)

	// The baseline of the failover rows: one edit made on a backup.
	b := (active + 1) % n
	for i := 0; i < 50; i++ {
		t := time.Now()
		editOn(r.cs[b].console, fmt.Sprintf("base/%d", i))
		row.base = append(row.base, time.Since(t))
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		for trial := 0; trial < *scaleTrials; trial++ {
			active, _ = r.waitSettled(60 * time.Second)
			b = (active + 1) % n
			t := time.Now()
			r.cs[active].cmd.Process.Signal(sig)
			editOn(r.cs[b].console, fmt.Sprintf("failover/%d.%d", sig, trial))
			took := time.Since(t)
			if sig == syscall.SIGKILL {
				row.kill = append(row.kill, took)
			} else {
				row.stop = append(row.stop, took)
			}
			// The old active comes back as a backup (rule 4), once it hears
			// the others: launched alone it would look for the active in vain.
			r.kill(active)
			r.start(active)
			r.waitPeers(active, 30*time.Second)
			r.launch(active, "bench")
		}
	}
	r.waitSettled(60 * time.Second)
	r.stopAll()
	r.close()

	// Phase 2, ack=all: a fresh rig, every console acknowledging.
	r = newRig(tmp, name+"-all", n, netns, "--ack", "all")
	r.startAll()
	r.waitMesh(30 * time.Second)
	r.launch(0, "bench")
	r.launchRest(0, "bench")
	active, _ = r.waitSettled(60 * time.Second)
	row.all = throughput(*writers, *dur, func(w, i int) error {
		_, err := r.cs[active].client.Set(ctx, fmt.Sprintf("all/%d.%d", w, i), value)
		return err
	})
	active, _ = r.waitSettled(60 * time.Second)
	var lat []time.Duration
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < *scaleLat; i++ {
		<-tick.C
		t := time.Now()
		if _, err := r.cs[active].client.Set(ctx, fmt.Sprintf("lat/%d", i), value); err != nil {
			scaleFatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	tick.Stop()
	row.allP50, row.allP99 = percentiles(lat)
	r.stopAll()
	r.close()
	// The floor: the same write made durable in n bare Pebble DBs at once.
	raw, err := storebench.RawSyncedCopiesLatency(filepath.Join(tmp, name+"-rawlat"), n, *scaleLat, time.Millisecond, []byte(value))
	if err != nil {
		scaleFatal(err)
	}
	os.RemoveAll(filepath.Join(tmp, name+"-rawlat"))
	_, row.rawP99 = percentiles(raw)
	return row
}

// waitPeers waits until console i is connected to every other console.
func (r *scaleRig) waitPeers(i int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := r.cs[i].client.Status(ctx)
		cancel()
		conn := 0
		if err == nil {
			for _, p := range st.Peers {
				if p.Connected {
					conn++
				}
			}
		}
		if conn >= r.n-1 {
			return
		}
		if time.Now().After(deadline) {
			scaleFatalf("%s: %s did not connect to its %d peers within %s: %s", r.name, r.id(i), r.n-1, timeout, r.describe())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	// With few trials the p99 is the largest: say so rather than pretend.
	return s[(len(s)*99)/100]
}

func msf(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func printScale(heading string, rows []scaleRow, loop scaleRow, rawBefore, rawAfter float64) {
	fmt.Println(heading)
	all := append(append([]scaleRow(nil), rows...), loop)
	fmt.Printf("%-44s", "measure")
	for _, r := range rows {
		fmt.Printf(" %10s", fmt.Sprintf("n=%d", r.n))
	}
	fmt.Printf(" %10s\n", fmt.Sprintf("lo n=%d", loop.n))
	line := func(what string, f func(r scaleRow) string) {
		fmt.Printf("%-44s", what)
		for _, r := range all {
			fmt.Printf(" %10s", f(r))
		}
		fmt.Println()
	}
	var three *scaleRow
	for i := range rows {
		if rows[i].n == 3 {
			three = &rows[i]
		}
	}
	raw := (rawBefore + rawAfter) / 2
	line(fmt.Sprintf("acked edits/s, ack=one (%d clients)", *writers), func(r scaleRow) string { return fmt.Sprintf("%.0f", r.one) })
	if three != nil {
		line("  ratio to n=3 on the bridge", func(r scaleRow) string { return fmt.Sprintf("%.2f", r.one/three.one) })
	}
	line("  ratio to raw Pebble synced writes", func(r scaleRow) string { return fmt.Sprintf("%.2f", r.one/raw) })
	line("  CPU µs per edit: active", func(r scaleRow) string { return fmt.Sprintf("%.0f", r.cpuActive) })
	line("  CPU µs per edit: each backup (mean)", func(r scaleRow) string { return fmt.Sprintf("%.0f", r.cpuBk) })
	line("  CPU µs per edit: all consoles + bench client", func(r scaleRow) string { return fmt.Sprintf("%.0f", r.cpuAll) })
	line(fmt.Sprintf("  ceiling on this machine: %d cores / that", runtime.NumCPU()), func(r scaleRow) string {
		return fmt.Sprintf("%.0f", float64(runtime.NumCPU())*1e6/r.cpuAll)
	})
	line("  ceiling, a core per console: 1 s / active's", func(r scaleRow) string { return fmt.Sprintf("%.0f", 1e6/r.cpuActive) })
	if three != nil {
		line("    ratio to n=3", func(r scaleRow) string { return fmt.Sprintf("%.2f", three.cpuActive/r.cpuActive) })
	}
	line("acked edits/s, ack=all", func(r scaleRow) string { return fmt.Sprintf("%.0f", r.all) })
	line("  ratio to raw Pebble synced writes", func(r scaleRow) string { return fmt.Sprintf("%.2f", r.all/raw) })
	line(fmt.Sprintf("ack=all at 1000/s, p50 (%d edits)", *scaleLat), func(r scaleRow) string { return ms(r.allP50) })
	line("ack=all at 1000/s, p99", func(r scaleRow) string { return ms(r.allP99) })
	line("  baseline: n bare Pebble DBs synced, p99", func(r scaleRow) string { return ms(r.rawP99) })
	line("  ratio", func(r scaleRow) string { return fmt.Sprintf("%.2f", float64(r.allP99)/float64(r.rawP99)) })
	line(fmt.Sprintf("idle CPU, active (%% of a core, %s)", *scaleIdle), func(r scaleRow) string { return fmt.Sprintf("%.2f%%", r.idleActive) })
	line("idle CPU, each backup (mean)", func(r scaleRow) string { return fmt.Sprintf("%.2f%%", r.idleBackup) })
	line("idle bytes/s sent by the active's NIC", func(r scaleRow) string {
		if r.loop {
			return "-"
		}
		return fmt.Sprintf("%.0f", r.idleTx)
	})
	line("descriptors open, most of any console (idle)", func(r scaleRow) string { return fmt.Sprintf("%d", r.fds) })
	line("start → full mesh (discovery on the bridge)", func(r scaleRow) string { return msf(r.mesh) })
	line("launch → all others live backups", func(r scaleRow) string { return msf(r.launch) })
	line("RSS of the active after the ack=one run", func(r scaleRow) string { return fmt.Sprintf("%.0f MB", r.rssActive) })
	line("RSS of the largest backup", func(r scaleRow) string { return fmt.Sprintf("%.0f MB", r.rssBackup) })
	line("baseline: one edit from a backup, p99 (50)", func(r scaleRow) string { return msf(p99(r.base)) })
	line(fmt.Sprintf("SIGKILL of the active → edit acked, p99 (%d)", *scaleTrials), func(r scaleRow) string { return msf(p99(r.kill)) })
	line(fmt.Sprintf("SIGSTOP of the active → edit acked, p99 (%d)", *scaleTrials), func(r scaleRow) string { return msf(p99(r.stop)) })
	line("  SIGSTOP, median", func(r scaleRow) string { s, _ := percentiles(append([]time.Duration(nil), r.stop...)); return msf(s) })
	fmt.Printf("baseline: raw Pebble synced writes (%d writers) %.0f/s before the rigs, %.0f/s after (mean %.0f/s)\n", *writers, rawBefore, rawAfter, raw)
	fmt.Printf("(with %d trials a p99 is the largest trial; each SIGSTOP trial ends with an edit from a backup acked by the successor)\n", *scaleTrials)
	// The targets.
	var twelve *scaleRow
	for i := range rows {
		if rows[i].n == 12 {
			twelve = &rows[i]
		}
	}
	if twelve != nil && three != nil {
		fmt.Printf("%-58s %14s\n", fmt.Sprintf("target: ack=one at 12 ≥ half of 3 (%.2f)", twelve.one/three.one), verdict(twelve.one >= three.one/2))
	}
	if twelve != nil {
		fmt.Printf("%-58s %14s\n", fmt.Sprintf("target: SIGSTOP failover p99 at 12 ≤ 500 ms (%s)", msf(p99(twelve.stop))), verdict(p99(twelve.stop) <= 500*time.Millisecond))
	}
	fmt.Println()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func plotScale(rows []scaleRow, loop scaleRow, raw float64) {
	if err := os.MkdirAll(*scaleOut, 0o755); err != nil {
		scaleFatal(err)
	}
	xs := make([]float64, len(rows))
	for i, r := range rows {
		xs[i] = float64(r.n)
	}
	get := func(f func(r scaleRow) float64) []float64 {
		out := make([]float64, len(rows))
		for i, r := range rows {
			out[i] = f(r)
		}
		return out
	}
	flat := func(v float64) []float64 {
		out := make([]float64, len(rows))
		for i := range out {
			out[i] = v
		}
		return out
	}
	msOf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	plots := []struct {
		file, title, ylabel string
		ss                  []series
	}{
		{"edits.svg", "Acknowledged edits/s", "edits/s", []series{
			{name: "ack=one", ys: get(func(r scaleRow) float64 { return r.one })},
			{name: "ack=all", ys: get(func(r scaleRow) float64 { return r.all })},
			{name: "raw Pebble", ys: flat(raw), dash: true},
			{name: "loopback n=3 ack=one", ys: flat(loop.one), dash: true},
		}},
		{"ackall-p99.svg", "ack=all latency at 1000 edits/s", "ms", []series{
			{name: "p99", ys: get(func(r scaleRow) float64 { return msOf(r.allP99) })},
			{name: "p50", ys: get(func(r scaleRow) float64 { return msOf(r.allP50) })},
			{name: "n bare Pebble p99", ys: get(func(r scaleRow) float64 { return msOf(r.rawP99) }), dash: true},
		}},
		{"idle-cpu.svg", "Idle CPU per console", "% of one core", []series{
			{name: "active", ys: get(func(r scaleRow) float64 { return r.idleActive })},
			{name: "backup (mean)", ys: get(func(r scaleRow) float64 { return r.idleBackup })},
		}},
		{"edit-cpu.svg", "CPU per acknowledged edit (ack=one)", "µs", []series{
			{name: "active", ys: get(func(r scaleRow) float64 { return r.cpuActive })},
			{name: "backup (mean)", ys: get(func(r scaleRow) float64 { return r.cpuBk })},
		}},
		{"failover-p99.svg", "Failover: edit acked again, p99", "ms", []series{
			{name: "SIGKILL", ys: get(func(r scaleRow) float64 { return msOf(p99(r.kill)) })},
			{name: "SIGSTOP", ys: get(func(r scaleRow) float64 { return msOf(p99(r.stop)) })},
			{name: "target 500 ms", ys: flat(500), dash: true},
		}},
		{"launch.svg", "Time to every console live", "ms", []series{
			{name: "launch → live backups", ys: get(func(r scaleRow) float64 { return msOf(r.launch) })},
			{name: "start → full mesh", ys: get(func(r scaleRow) float64 { return msOf(r.mesh) })},
		}},
		{"rss.svg", "Resident memory", "MB", []series{
			{name: "active", ys: get(func(r scaleRow) float64 { return r.rssActive })},
			{name: "largest backup", ys: get(func(r scaleRow) float64 { return r.rssBackup })},
		}},
	}
	var files []string
	for _, p := range plots {
		path := filepath.Join(*scaleOut, p.file)
		if err := writeSVG(path, p.title, "consoles on the bridge", p.ylabel, xs, p.ss); err != nil {
			scaleFatal(err)
		}
		files = append(files, path)
	}
	fmt.Printf("plots: %s\n\n", strings.Join(files, " "))
}

// parallel runs fn for 0..n-1 at once and waits.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); fn(i) }()
	}
	wg.Wait()
}
