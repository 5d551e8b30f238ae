package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"consoled/replication/wire"
)

var trials = flag.Int("trials", 20, "trials of each failover measurement")

// failoverRig is three consoles of one show on loopback, restarted as the
// trials kill them.
type failoverRig struct {
	dir, key string
	ids      []string
	cs       map[string]*console
}

func (r *failoverRig) start(id string) {
	var peers []string
	for _, other := range r.ids {
		if c := r.cs[other]; c != nil && other != id {
			st, err := c.client.Status(context.Background())
			if err != nil {
				fatal(err)
			}
			peers = append(peers, st.Listen)
		}
	}
	args := []string{"--network-key", r.key}
	if len(peers) > 0 {
		args = append(args, "--peers", strings.Join(peers, ","))
	}
	r.cs[id] = startConsole(r.dir, id, args...)
}

// settle logs every console on and waits until one is active and the
// others follow it, and returns the active.
func (r *failoverRig) settle() *console {
	ctx := context.Background()
	for _, id := range r.ids {
		if _, err := r.cs[id].client.Launch(ctx, "bench", false); err != nil {
			fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var active *console
		var activeID string
		actives, following := 0, map[string]int{}
		for _, id := range r.ids {
			st, err := r.cs[id].client.Status(ctx)
			if err != nil {
				fatal(err)
			}
			switch st.Role {
			case "active":
				actives++
				active, activeID = r.cs[id], id
			case "backup":
				if !st.Syncing {
					following[st.Active]++
				}
			}
		}
		if actives == 1 && following[activeID] == len(r.ids)-1 {
			return active
		}
		if time.Now().After(deadline) {
			fatalf("the failover rig did not settle: %d actives, following %v", actives, following)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *failoverRig) idOf(c *console) string {
	for id, x := range r.cs {
		if x == c {
			return id
		}
	}
	return ""
}

// editOn makes one edit on c and returns when it is acknowledged.
func editOn(c *console, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.client.Set(ctx, key, `{"level":50}`); err != nil {
		fatalf("edit after the failover: %v", err)
	}
}

// failoverBench: how long the show has no active when the active goes, on
// three consoles over loopback. Each trial ends when a backup's operator has
// an edit acknowledged again — by the successor, since the old active is
// gone. Baseline: one edit from a backup with the network settled.
func failoverBench(tmp string) {
	dir := filepath.Join(tmp, "failover")
	r := &failoverRig{dir: dir, key: filepath.Join(dir, "network.key"), ids: []string{"desk-1", "desk-2", "desk-3"}, cs: map[string]*console{}}
	if _, _, err := wire.LoadOrCreateKey(r.key); err != nil {
		fatal(err)
	}
	for _, id := range r.ids {
		r.start(id)
	}
	defer func() {
		for _, c := range r.cs {
			c.stop()
		}
	}()
	backupOf := func(active *console) *console {
		for _, id := range r.ids {
			if c := r.cs[id]; c != active {
				return c
			}
		}
		return nil
	}

	var base []time.Duration
	active := r.settle()
	b := backupOf(active)
	for i := 0; i < 200; i++ {
		t0 := time.Now()
		editOn(b, fmt.Sprintf("base/%d", i))
		base = append(base, time.Since(t0))
	}

	// The three ways an active goes: a crash the kernel reports (SIGKILL: the
	// peers' connections are reset), a silent one (SIGSTOP: a hang or a
	// power cut, noticed only by the missing heartbeats), and a log-off.
	var kill, hang, logoff []time.Duration
	for trial := 0; trial < *trials; trial++ {
		active = r.settle()
		id, b := r.idOf(active), backupOf(active)
		t0 := time.Now()
		active.cmd.Process.Kill()
		active.cmd.Wait()
		editOn(b, fmt.Sprintf("kill/%d", trial))
		kill = append(kill, time.Since(t0))
		active.client.Close()
		r.start(id)
	}
	for trial := 0; trial < *trials; trial++ {
		active = r.settle()
		id, b := r.idOf(active), backupOf(active)
		t0 := time.Now()
		active.cmd.Process.Signal(syscall.SIGSTOP)
		editOn(b, fmt.Sprintf("hang/%d", trial))
		hang = append(hang, time.Since(t0))
		active.cmd.Process.Kill()
		active.cmd.Wait()
		active.client.Close()
		r.start(id)
	}
	for trial := 0; trial < *trials; trial++ {
		active = r.settle()
		b := backupOf(active)
		t0 := time.Now()
		if _, err := active.client.Logoff(context.Background()); err != nil {
			fatal(err)
		}
		editOn(b, fmt.Sprintf("logoff/%d", trial))
		logoff = append(logoff, time.Since(t0))
	}

	fmt.Println("## Failover: 3 consoles on loopback (issue: log-off, rejoin and failover)")
	fmt.Printf("%-58s %10s %10s %10s\n", "measure", "p50", "p99", "target")
	row := func(what string, ds []time.Duration, target string) {
		p50, p99 := percentiles(ds)
		fmt.Printf("%-58s %10s %10s %10s\n", what, ms(p50), ms(p99), target)
	}
	row("baseline: one edit from a backup, network settled (200)", base, "")
	row(fmt.Sprintf("SIGKILL of the active → edit acked again (%d)", *trials), kill, "500 ms")
	row(fmt.Sprintf("SIGSTOP of the active (silent) → edit acked again (%d)", *trials), hang, "500 ms")
	row(fmt.Sprintf("logoff of the active → edit acked again (%d)", *trials), logoff, "100 ms")
	fmt.Println()
}
