package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"consoled/replication/store/storebench"
	"consoled/replication/wire"
)

var (
	showObjects = flag.Int("objects", 100000, "objects in the full-sync show")
	objectSize  = flag.Int("size", 1000, "bytes per object in the full-sync show")
)

// cluster starts n consoles sharing one key, each knowing the ones before it.
func cluster(tmp, name string, n int, extra ...string) []*console {
	dir := filepath.Join(tmp, name)
	key := filepath.Join(dir, "network.key")
	if _, _, err := wire.LoadOrCreateKey(key); err != nil {
		fatal(err)
	}
	var cs []*console
	var addrs []string
	for i := 0; i < n; i++ {
		args := append([]string{"--network-key", key}, extra...)
		if len(addrs) > 0 {
			args = append(args, "--peers", strings.Join(addrs, ","))
		}
		c := startConsole(dir, fmt.Sprintf("desk-%d", i+1), args...)
		st, err := c.client.Status(context.Background())
		if err != nil {
			fatal(err)
		}
		addrs = append(addrs, st.Listen)
		cs = append(cs, c)
	}
	return cs
}

func stopAll(cs []*console) {
	for _, c := range cs {
		c.stop()
	}
}

// waitSeq waits until c's copy is at seq.
func waitSeq(c *console, seq uint64) {
	for {
		st, err := c.client.Status(context.Background())
		if err != nil {
			fatal(err)
		}
		if st.Seq >= seq && st.Role == "backup" {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func netHeader() {
	fmt.Printf("%-58s %14s %14s %8s\n", "measure", "value", "baseline", "ratio")
}

func netRow(what string, v, base string, ratio float64) {
	r := ""
	if ratio > 0 {
		r = fmt.Sprintf("%.2f", ratio)
	}
	fmt.Printf("%-58s %14s %14s %8s\n", what, v, base, r)
}

// networkBench: rules 1–2 on three consoles over loopback, each figure with
// its baseline from the same run.
func networkBench(tmp string) {
	ctx := context.Background()
	fmt.Println("## Show network: 3 consoles on loopback (issue: show network)")
	netHeader()
	row := netRow

	// 1. Full sync of a large show to a joining backup. Three consoles with
	// no copy join in turn (b, c, and a fourth started for the purpose),
	// each timed from its launch until it is a backup holding every edit,
	// each followed by the baseline: the files a full sync ships (the
	// active's sstables, MANIFEST and OPTIONS; the WAL stays behind) read
	// from the active's directory, as the sync reads them, and sent over one
	// plain TCP connection into a synced file. Not the joiner's copy: the
	// joiner writes it with direct I/O, so reading it back would time the
	// disk, not the copy. Compactions keep the same data, so the total
	// barely moves. The first join is the one whose checkpoint flushes the
	// memtable the load left.
	cs := cluster(tmp, "fullsync", 3)
	a, b, c := cs[0], cs[1], cs[2]
	if _, err := a.client.Launch(ctx, "bench", false); err != nil {
		fatal(err)
	}
	t0 := time.Now()
	load(a, *showObjects, *objectSize)
	loadTook := time.Since(t0)
	st, _ := a.client.Status(ctx)
	var syncs, raws, tlsFloor []time.Duration
	var trials []string
	var rawBytes int64
	for _, j := range []*console{b, c, nil} {
		extra := j == nil
		if extra {
			j = startConsole(filepath.Join(tmp, "fullsync"), "desk-4", "--network-key", filepath.Join(tmp, "fullsync", "network.key"), "--peers", st.Listen)
		}
		t0 = time.Now()
		if _, err := j.client.Launch(ctx, "bench", false); err != nil {
			fatal(err)
		}
		waitSeq(j, st.Seq)
		took := time.Since(t0)
		activeDir := filepath.Join(filepath.Dir(a.socket), "shows", "bench")
		raw, n := rawCopy(activeDir, filepath.Join(tmp, "rawcopy"))
		syncs, raws, rawBytes = append(syncs, took), append(raws, raw), n
		tlsFloor = append(tlsFloor, tlsCopy(activeDir, filepath.Join(tmp, "fullsync", "network.key")))
		trials = append(trials, fmt.Sprintf("%.0f/%.0f", float64(took.Microseconds())/1000, float64(raw.Microseconds())/1000))
		if extra {
			j.stop() // the catch-up below is on three consoles
		}
	}
	// Each join is paired with the raw copy made right after it, on the
	// disk as busy as it was then; the row is the join with the median ratio.
	order := []int{0, 1, 2}
	sort.Slice(order, func(x, y int) bool {
		return float64(syncs[order[x]])/float64(raws[order[x]]) < float64(syncs[order[y]])/float64(raws[order[y]])
	})
	m := order[1]
	row(fmt.Sprintf("full sync, %d objects, %.0f MB shipped, median of 3", *showObjects, float64(rawBytes)/1e6),
		ms(syncs[m]), ms(raws[m])+" raw", float64(syncs[m])/float64(raws[m]))
	fmt.Printf("%-58s %14s\n", "  (each join / its raw copy, ms)", strings.Join(trials, " "))
	slices.Sort(tlsFloor)
	row("  floor: those bytes through the consoles' TLS, not stored", ms(tlsFloor[1]), ms(raws[m])+" raw", float64(tlsFloor[1])/float64(raws[m]))
	fmt.Printf("%-58s %14s\n", "  (target)", "≤ 1.5×")
	fmt.Printf("%-58s %14s\n", "  (loading that show through the control API took)", loadTook.Round(time.Millisecond))

	// 4. Catch-up of a backup that missed 100 edits on that show.
	var catch []time.Duration
	for trial := 0; trial < 5; trial++ {
		if _, err := b.client.Logoff(ctx); err != nil {
			fatal(err)
		}
		for i := 0; i < 100; i++ {
			if _, err := a.client.Set(ctx, fmt.Sprintf("missed/%d.%d", trial, i), "x"); err != nil {
				fatal(err)
			}
		}
		st, _ = a.client.Status(ctx)
		before := st.CatchUps
		t0 = time.Now()
		if _, err := b.client.Launch(ctx, "bench", false); err != nil {
			fatal(err)
		}
		waitSeq(b, st.Seq)
		catch = append(catch, time.Since(t0))
		if st, _ = a.client.Status(ctx); st.CatchUps != before+1 {
			fatalf("the rejoin was not a catch-up (catch-ups %d → %d)", before, st.CatchUps)
		}
	}
	c50, _ := percentiles(catch)
	row("catch-up of 100 missed edits on that show, median of 5", ms(c50), "", 0)
	fmt.Printf("%-58s %14s\n", "  (target)", "≤ 50 ms")
	stopAll(cs)

	// 2. Sustained acknowledged edits with two backups.
	editThroughput(tmp)

	// 3. Edit to durable on every backup, at 1,000 edits/s.
	ackAllLatency(tmp)
	fmt.Println()
}

// ackAllLatency times edits on the active of three consoles with --ack all,
// one every millisecond: each returns once durable on the active and on both
// backups.
func ackAllLatency(tmp string) {
	ctx := context.Background()
	row := netRow
	value := `{"fade":3,"delay":0,"level":100}`
	cs := cluster(tmp, "latency", 3, "--ack", "all")
	for _, x := range cs {
		if _, err := x.client.Launch(ctx, "bench", false); err != nil {
			fatal(err)
		}
	}
	var lat []time.Duration
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < 3000; i++ {
		<-tick.C
		t0 := time.Now()
		if _, err := cs[0].client.Set(ctx, fmt.Sprintf("lat/%d", i), value); err != nil {
			fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	tick.Stop()
	stopAll(cs)
	// The floor on this disk: the same write made durable in three bare
	// Pebble DBs at once, with no network and no consoled.
	raw, err := storebench.RawSyncedCopiesLatency(filepath.Join(tmp, "latency-raw"), 3, len(lat), time.Millisecond, []byte(value))
	if err != nil {
		fatal(err)
	}
	l50, l99 := percentiles(lat)
	r50, r99 := percentiles(raw)
	row("edit → durable on every backup at 1000/s (ack=all), p50", ms(l50), ms(r50)+" raw", float64(l50)/float64(r50))
	row("edit → durable on every backup at 1000/s (ack=all), p99", ms(l99), ms(r99)+" raw", float64(l99)/float64(r99))
	fmt.Printf("%-58s %14s\n", "  (target p99; baseline: 3 bare Pebble synced writes at once)", "≤ 2 ms")
}

// editThroughput measures sustained acknowledged edits on three consoles
// (ack=one, two backups) next to raw Pebble synced writes of the same run.
func editThroughput(tmp string) {
	ctx := context.Background()
	cs := cluster(tmp, "throughput", 3)
	for _, x := range cs {
		if _, err := x.client.Launch(ctx, "bench", false); err != nil {
			fatal(err)
		}
	}
	value := `{"fade":3,"delay":0,"level":100}`
	cpu0 := cpuTimes(cs)
	t0 := time.Now()
	rate := throughput(*writers, *dur, func(w, i int) error {
		_, err := cs[0].client.Set(ctx, fmt.Sprintf("cue/%d.%d", w, i), value)
		return err
	})
	edits := int(rate * time.Since(t0).Seconds())
	cpu1 := cpuTimes(cs)
	postRate := throughput(*writers, *dur, func(w, i int) error {
		_, err := cs[0].post.PostEdit(ctx, fmt.Sprintf("post/%d.%d", w, i), value, false)
		return err
	})
	rawRate, err := storebench.RawSyncedWriteRate(filepath.Join(tmp, "raw-pebble"), *writers, *dur)
	if err != nil {
		fatal(err)
	}
	netRow(fmt.Sprintf("acked edits/s, stream, ack=one, 2 backups, %d clients", *writers), fmt.Sprintf("%.0f/s", rate), fmt.Sprintf("%.0f/s", rawRate), rate/rawRate)
	netRow(fmt.Sprintf("acked edits/s, plain POST, ack=one, 2 backups, %d clients", *writers), fmt.Sprintf("%.0f/s", postRate), fmt.Sprintf("%.0f/s", rawRate), postRate/rawRate)
	fmt.Printf("%-58s %14s\n", "  (target; baseline is raw Pebble synced writes)", "≥ 30000/s")
	if edits > 0 {
		per := func(i int) string {
			return fmt.Sprintf("%.0f", float64(cpu1[i]-cpu0[i])/float64(time.Microsecond)/float64(edits))
		}
		fmt.Printf("%-58s %14s\n", "  (CPU µs per stream edit: bench client / active / backups)",
			per(0)+" / "+per(1)+" / "+per(2)+"+"+per(3))
	}
	stopAll(cs)
}

// cpuTimes returns the CPU time (user and system) used so far by this
// process and by each console of cs.
func cpuTimes(cs []*console) []time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	out := []time.Duration{time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	for _, c := range cs {
		out = append(out, procCPU(c.cmd.Process.Pid))
	}
	return out
}

// procCPU reads a process's user and system time from /proc (Linux), in
// clock ticks of 10 ms; 0 where that is not available.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// load fills c's show with n objects of size bytes. The values are random
// text, as incompressible as real show data: sstables are compressed, and
// repeated bytes would make the issue's ~100 MB show a few MB on disk.
func load(c *console, n, size int) {
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := make([]byte, (size+1)/2)
			for i := w; i < n; i += 64 {
				rand.Read(rnd)
				val := hex.EncodeToString(rnd)[:size]
				if _, err := c.client.Set(context.Background(), fmt.Sprintf("patch/%07d", i), val); err != nil {
					fatal(err)
				}
			}
		}()
	}
	wg.Wait()
}

// shippedFiles lists the files of a show directory that a full sync ships:
// everything but the WAL (*.log) and the lock file.
func shippedFiles(dir string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".log") && e.Name() != "LOCK" {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// tlsCopy sends the shipped files of the show directory dir over one TLS
// connection on loopback, set up as the consoles set theirs up (TLS 1.3,
// certificates from the network key at keyPath), to a reader that discards
// them, and returns the time taken: what encrypting, decrypting and moving
// the bytes through user space costs on its own, which no TLS-based sync can
// undercut (the raw copy pays none of it: the kernel sends the files and
// splices them into the file).
func tlsCopy(dir, keyPath string) time.Duration {
	key, _, err := wire.LoadOrCreateKey(keyPath)
	if err != nil {
		fatal(err)
	}
	srv, err := wire.NewTLS(key, "floor-a")
	if err != nil {
		fatal(err)
	}
	cli, err := wire.NewTLS(key, "floor-b")
	if err != nil {
		fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.Server())
	if err != nil {
		fatal(err)
	}
	took, _ := timeCopy(dir, ln,
		func(addr string) (net.Conn, error) { return tls.Dial("tcp", addr, cli.Client()) },
		func(c net.Conn) error {
			_, err := io.Copy(io.Discard, c)
			return err
		})
	return took
}

// rawCopy sends the shipped files of the show directory dir over one plain
// TCP connection on loopback into one file that is fsynced: the floor for
// moving those bytes. It returns the time and the bytes sent.
// writeSynced is a raw copy's receiving end: what arrives goes to the file
// dst, synced at the end.
func writeSynced(dst string) func(net.Conn) error {
	return func(c net.Conn) error {
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(f, c); err != nil {
			return err
		}
		return f.Sync()
	}
}

func rawCopy(dir, dst string) (time.Duration, int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	defer os.Remove(dst)
	return timeCopy(dir, ln,
		func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) },
		writeSynced(dst))
}

// timeCopy sends the shipped files of the show directory dir over one
// connection from dial to ln, whose first accepted connection receive
// takes until the sender closes it, and returns the time from the dial
// until receive is done, and the bytes sent. It closes ln.
func timeCopy(dir string, ln net.Listener, dial func(addr string) (net.Conn, error), receive func(net.Conn) error) (time.Duration, int64) {
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- receive(c)
	}()
	files := shippedFiles(dir)
	t0 := time.Now()
	conn, err := dial(ln.Addr().String())
	if err != nil {
		fatal(err)
	}
	var sent int64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue // a file Pebble just removed
		}
		n, err := io.Copy(conn, f)
		f.Close()
		if err != nil {
			fatal(err)
		}
		sent += n
	}
	conn.Close()
	if err := <-done; err != nil {
		fatal(err)
	}
	return time.Since(t0), sent
}
