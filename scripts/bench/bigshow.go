package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"consoled/replication"
	"consoled/replication/wire"
)

var bigObjects = flag.Int("big-objects", 1000000, "objects in the bigshow section's show (of -size bytes)")

// bigShowBench: a 1 GB show (-big-objects × -size) on two consoles on the
// bridge: the full sync against the raw copy and the TLS floor of the same
// bytes over the same bridge in the same run, catch-up of 100 edits, RSS of
// a console holding it, and start-to-ready and launch time.
func bigShowBench(tmp string) {
	const heading = "## Big show: two consoles on a bridge (issue 19, show size)"
	if why := rigUnavailable(); why != "" {
		fmt.Println(heading)
		fmt.Printf("skipped: %s\n\n", why)
		return
	}
	need := uint64(*bigObjects) * uint64(*objectSize) * 5 // two copies, a raw copy, Pebble's slack
	if free := freeBytes(tmp); free < need {
		fmt.Println(heading)
		fmt.Printf("skipped: needs about %.1f GB free in %s, has %.1f GB\n\n", float64(need)/1e9, tmp, float64(free)/1e9)
		return
	}
	removeStaleRigs()
	ctx := context.Background()
	r := newRig(tmp, "bigshow", 2, true)
	defer r.close()
	r.startAll()
	r.waitMesh(30 * time.Second)
	// The baseline of start and launch: the same steps on a show of 100
	// small objects (desk-2 joins, leaves first; desk-1 restarts alone).
	r.launch(0, "small")
	for i := 0; i < 100; i++ {
		if _, err := r.cs[0].client.Set(ctx, fmt.Sprintf("cue/%d", i), "x"); err != nil {
			scaleFatal(err)
		}
	}
	r.launch(1, "small")
	r.waitSettled(time.Minute)
	smallReady, smallLaunch, _ := r.restartAlone("small")
	r.start(0)
	r.start(1)
	r.waitPeers(0, time.Minute)
	r.waitPeers(1, time.Minute)
	r.launch(0, "bench")
	progress("bigshow: loading %d objects of %d bytes into desk-1 alone", *bigObjects, *objectSize)
	t0 := time.Now()
	load(r.cs[0].console, *bigObjects, *objectSize)
	loadTook := time.Since(t0)
	activeDir := filepath.Join(r.cs[0].data, "shows", "bench")
	showBytes := dirBytes(activeDir)

	// Full sync, twice: desk-2 empty each time, each paired with the raw
	// copy and the TLS floor of the shipped files over the same bridge.
	var syncs, raws, floors []time.Duration
	var shipped int64
	for trial := 0; trial < 2; trial++ {
		if trial > 0 {
			r.stop(1)
			os.RemoveAll(r.cs[1].data)
			started := time.Now()
			r.start(1)
			r.waitPeers(1, time.Minute)
			// A console just started lets every other beacon twice before
			// a launch goes on (Engine.waitForPeers, rule 6): the trial
			// times the copy, as the first does, not that window.
			time.Sleep(time.Until(started.Add(2 * replication.BeaconInterval)))
		}
		progress("bigshow: full sync %d", trial+1)
		t0 = time.Now()
		r.launch(1, "bench")
		r.waitSettled(10 * time.Minute)
		syncs = append(syncs, time.Since(t0))
		raw, n := r.rawCopyAcross(activeDir, filepath.Join(tmp, "bigshow-raw"))
		raws, shipped = append(raws, raw), n
		floors = append(floors, r.tlsCopyAcross(activeDir))
	}
	time.Sleep(2 * time.Second)
	rssActive, rssBackup := rssMB(r.cs[0].cmd.Process.Pid), rssMB(r.cs[1].cmd.Process.Pid)

	// Catch-up of 100 missed edits, three times.
	var catch []time.Duration
	st0, err := r.cs[0].client.Status(ctx)
	if err != nil {
		scaleFatal(err)
	}
	for trial := 0; trial < 3; trial++ {
		if _, err := r.cs[1].client.Logoff(ctx); err != nil {
			scaleFatal(err)
		}
		for i := 0; i < 100; i++ {
			if _, err := r.cs[0].client.Set(ctx, fmt.Sprintf("missed/%d.%d", trial, i), "x"); err != nil {
				scaleFatal(err)
			}
		}
		t0 = time.Now()
		r.launch(1, "bench")
		launched := time.Since(t0)
		r.waitSettled(time.Minute)
		catch = append(catch, time.Since(t0))
		progress("bigshow: catch-up %d: launch answered after %s, settled after %s", trial+1, launched, catch[trial])
	}

	st1, err := r.cs[0].client.Status(ctx)
	if err != nil {
		scaleFatal(err)
	}
	ready, launch, rssLaunched := r.restartAlone("bench")

	fmt.Println(heading)
	netHeader()
	fmt.Printf("%-58s %14s\n", "show: objects × bytes; on the active's disk", fmt.Sprintf("%d × %d; %.0f MB", *bigObjects, *objectSize, float64(showBytes)/1e6))
	for i := range syncs {
		netRow(fmt.Sprintf("full sync %d, %.0f MB shipped (raw copy right after)", i+1, float64(shipped)/1e6), ms(syncs[i]), ms(raws[i])+" raw", float64(syncs[i])/float64(raws[i]))
		netRow("  floor: those bytes through TLS 1.3, not stored", ms(floors[i]), ms(raws[i])+" raw", float64(floors[i])/float64(raws[i]))
	}
	best := float64(syncs[0]) / float64(raws[0])
	worst := float64(syncs[1]) / float64(raws[1])
	if best > worst {
		best, worst = worst, best
	}
	fmt.Printf("%-58s %14s\n", "  target ≤ 1.5× raw (best, worst trial)", fmt.Sprintf("%.2f, %.2f %s", best, worst, verdict(best <= 1.5)))
	netRow("catch-up of 100 missed edits (3 trials)", durs(catch), "", 0)
	fmt.Printf("%-58s %14s\n", "  (the active's count of them: catch-ups, full syncs)", fmt.Sprintf("%d, %d", st1.CatchUps-st0.CatchUps, st1.FullSyncs-st0.FullSyncs))
	netRow("RSS holding it: active, backup (after the syncs)", fmt.Sprintf("%.0f, %.0f MB", rssActive, rssBackup), "≤ 128 MB", 0)
	netRow("RSS of desk-1 started and launched alone", fmt.Sprintf("%.0f MB", rssLaunched), "≤ 128 MB", 0)
	netRow("start → control API answers (3 trials)", durs(ready), durs(smallReady), 0)
	netRow("launch → active, alone (3 trials)", durs(launch), durs(smallLaunch), 0)
	fmt.Printf("(baseline of those two: the same steps with a show of 100 small objects)\n")
	fmt.Printf("%-58s %14s\n", "(loading the show through the control API took)", loadTook.Round(time.Second))
	fmt.Printf("(raw: the shipped files over one plain TCP connection from desk-1's namespace to desk-2's, across the bridge, into one fsynced file)\n\n")
}

// freeBytes is the space left for an unprivileged user on dir's file system.
func freeBytes(dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return st.Bavail * uint64(st.Bsize)
}

// inNetns runs fn on a thread switched into the rig's namespace of console
// i: sockets fn makes belong to that namespace for their whole life.
func (r *scaleRig) inNetns(i int, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(r.cs[i].ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so it ends with this goroutine instead of
		// running others in the wrong namespace.
		return errors.Join(ferr, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// acrossListener listens in desk-2's namespace.
func (r *scaleRig) acrossListener(wrap func(net.Listener) net.Listener) net.Listener {
	var ln net.Listener
	err := r.inNetns(1, func() (err error) {
		ln, err = net.Listen("tcp", scaleSubnet+"2:0")
		return err
	})
	if err != nil {
		scaleFatal(err)
	}
	return wrap(ln)
}

// dialAcross dials from desk-1's namespace.
func (r *scaleRig) dialAcross(dial func(addr string) (net.Conn, error)) func(addr string) (net.Conn, error) {
	return func(addr string) (c net.Conn, err error) {
		rerr := r.inNetns(0, func() error {
			c, err = dial(addr)
			return err
		})
		return c, rerr
	}
}

// rawCopyAcross is rawCopy from desk-1's namespace to desk-2's.
func (r *scaleRig) rawCopyAcross(dir, dst string) (time.Duration, int64) {
	ln := r.acrossListener(func(l net.Listener) net.Listener { return l })
	defer os.Remove(dst)
	return timeCopy(dir, ln, r.dialAcross(func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }),
		writeSynced(dst))
}

// tlsCopyAcross is tlsCopy from desk-1's namespace to desk-2's.
func (r *scaleRig) tlsCopyAcross(dir string) time.Duration {
	key, _, err := wire.LoadOrCreateKey(r.key)
	if err != nil {
		scaleFatal(err)
	}
	srv, err := wire.NewTLS(key, "floor-a")
	if err != nil {
		scaleFatal(err)
	}
	cli, err := wire.NewTLS(key, "floor-b")
	if err != nil {
		scaleFatal(err)
	}
	ln := r.acrossListener(func(l net.Listener) net.Listener { return tls.NewListener(l, srv.Server()) })
	took, _ := timeCopy(dir, ln, r.dialAcross(func(addr string) (net.Conn, error) { return tls.Dial("tcp", addr, cli.Client()) }),
		func(c net.Conn) error {
			_, err := io.Copy(io.Discard, c)
			return err
		})
	return took
}

// restartAlone logs desk-2 off, then desk-1 (the last out holds the master
// copy), and three times starts desk-1 alone and launches show on it: the
// time from exec to the control API answering, from the launch to active,
// and desk-1's RSS once active. desk-1 is stopped at the end.
func (r *scaleRig) restartAlone(show string) (ready, launch []time.Duration, rss float64) {
	ctx := context.Background()
	r.stop(1)
	r.stop(0)
	for trial := 0; trial < 3; trial++ {
		t0 := time.Now()
		r.start(0)
		ready = append(ready, time.Since(t0))
		t0 = time.Now()
		r.launch(0, show)
		for {
			st, err := r.cs[0].client.Status(ctx)
			if err == nil && st.Role == "active" {
				break
			}
			if time.Since(t0) > time.Minute {
				scaleFatalf("bigshow: desk-1 not active a minute after its launch")
			}
			time.Sleep(time.Millisecond)
		}
		launch = append(launch, time.Since(t0))
		rss = rssMB(r.cs[0].cmd.Process.Pid)
		r.stop(0)
	}
	return ready, launch, rss
}
