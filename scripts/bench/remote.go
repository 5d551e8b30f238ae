package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"consoled/client"
	"consoled/replication/wire"
)

// remoteBench: remote control (consolectl --remote) next to the control
// socket on the same console in the same run, and consolectl net on 3 and
// 12 consoles next to one remote status.
func remoteBench(tmp string) {
	ctx := context.Background()
	fmt.Println("## Remote control over the show network (issue: remote control)")
	netHeader()

	cs := cluster(tmp, "remote", 1)
	c := cs[0]
	if _, err := c.client.Launch(ctx, "bench", false); err != nil {
		fatal(err)
	}
	key := filepath.Join(tmp, "remote", "network.key")
	rc := remoteClient(c, key)
	defer rc.Close()
	value := `{"fade":3,"delay":0,"level":100}`
	// The socket and the network take turns, so that both see the same
	// machine: it is shared, and its load moves during a run. Throughput:
	// three rounds each, the median of each; latency: one set each in turn.
	var socks, rems []float64
	for round := 0; round < 3; round++ {
		socks = append(socks, throughput(*writers, *dur, func(w, i int) error {
			_, err := c.client.Set(ctx, fmt.Sprintf("sock/%d/%d.%d", round, w, i), value)
			return err
		}))
		rems = append(rems, throughput(*writers, *dur, func(w, i int) error {
			_, err := rc.Set(ctx, fmt.Sprintf("remote/%d/%d.%d", round, w, i), value)
			return err
		}))
	}
	sock, rem := median(socks), median(rems)
	sockLat, remLat := make([]time.Duration, *latN), make([]time.Duration, *latN)
	for i := 0; i < *latN; i++ {
		for _, x := range []struct {
			c   *client.Client
			out []time.Duration
		}{{c.client, sockLat}, {rc, remLat}} {
			t0 := time.Now()
			if _, err := x.c.Set(ctx, fmt.Sprintf("lat/%d", i), value); err != nil {
				fatal(err)
			}
			x.out[i] = time.Since(t0)
		}
	}
	s50, s99 := percentiles(sockLat)
	r50, r99 := percentiles(remLat)
	st, err := c.client.Status(ctx)
	if err != nil {
		fatal(err)
	}
	// Whole consolectl processes, in turn: one TLS handshake (and one
	// certificate made from the key) per run, against the socket's plain
	// connect.
	remote := []string{"--remote", st.Listen, "--network-key", key}
	socket := []string{"--socket", c.socket}
	var cliRem, cliSock []time.Duration
	for i := 0; i < 50; i++ {
		for _, target := range [][]string{remote, socket} {
			t0 := time.Now()
			args := append(append([]string{}, target...), "set", fmt.Sprintf("cli/%d", i), value)
			if out, err := exec.Command(filepath.Join(*bin, "consolectl"), args...).CombinedOutput(); err != nil {
				fatalf("consolectl %v: %v: %s", args, err, out)
			}
			if target[0] == "--remote" {
				cliRem = append(cliRem, time.Since(t0))
			} else {
				cliSock = append(cliSock, time.Since(t0))
			}
		}
	}
	cr50, cr99 := percentiles(cliRem)
	cs50, cs99 := percentiles(cliSock)
	stopAll(cs)

	netRow(fmt.Sprintf("remote acknowledged edits/s (%d clients, median of 3 runs)", *writers), fmt.Sprintf("%.0f/s", rem), fmt.Sprintf("%.0f/s", sock), rem/sock)
	netRow(fmt.Sprintf("remote set round trip p50 (%d sequential)", *latN), ms(r50), ms(s50), float64(r50)/float64(s50))
	netRow("remote set round trip p99", ms(r99), ms(s99), float64(r99)/float64(s99))
	netRow("one `consolectl --remote set` process p50 (50 runs)", ms(cr50), ms(cs50), float64(cr50)/float64(cs50))
	netRow("one `consolectl --remote set` process p99", ms(cr99), ms(cs99), float64(cr99)/float64(cs99))
	fmt.Println("  (baseline: the same through the console's control socket, same console, in turn with it)")

	for _, n := range []int{3, 12} {
		netTime(tmp, n)
	}
	fmt.Println("  (baseline: one `consolectl --remote status --json` process against one of the same consoles)")
	fmt.Println()
}

// remoteClient is a client of c over the show network.
func remoteClient(c *console, keyFile string) *client.Client {
	key, err := wire.LoadKey(keyFile)
	if err != nil {
		fatal(err)
	}
	cfg, err := client.TLSConfig(key)
	if err != nil {
		fatal(err)
	}
	st, err := c.client.Status(context.Background())
	if err != nil {
		fatal(err)
	}
	return client.Remote(st.Listen, cfg)
}

// netTime times `consolectl net --json` on n consoles, all on one show,
// next to `consolectl --remote status --json` on one of them.
func netTime(tmp string, n int) {
	ctx := context.Background()
	name := fmt.Sprintf("net-%d", n)
	cs := cluster(tmp, name, n)
	defer stopAll(cs)
	for _, c := range cs {
		if _, err := c.client.Launch(ctx, "bench", false); err != nil {
			fatal(err)
		}
	}
	if _, err := cs[0].client.Set(ctx, "cue/1", "x"); err != nil {
		fatal(err)
	}
	key := filepath.Join(tmp, name, "network.key")
	st, err := cs[n-1].client.Status(ctx)
	if err != nil {
		fatal(err)
	}
	target := []string{"--remote", st.Listen, "--network-key", key}
	run := func(args ...string) time.Duration {
		t0 := time.Now()
		out, err := exec.Command(filepath.Join(*bin, "consolectl"), append(append([]string{}, target...), args...)...).Output()
		if err != nil {
			fatalf("consolectl %v: %v: %s", args, err, out)
		}
		if args[0] == "net" {
			if got := strings.Count(string(out), `"console":`); got != n {
				fatalf("consolectl net listed %d consoles of %d:\n%s", got, n, out)
			}
			if strings.Contains(string(out), `"error"`) {
				fatalf("consolectl net could not ask every console:\n%s", out)
			}
		}
		return time.Since(t0)
	}
	// Every console must list every other first: net asks those listed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, c := range cs {
			st, err := c.client.Status(ctx)
			if err != nil {
				fatal(err)
			}
			connected := 0
			for _, p := range st.Peers {
				if p.Connected && p.Address != "" {
					connected++
				}
			}
			ok = ok && connected == n-1 && st.Role != "off"
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			fatalf("%d consoles did not all connect in 30s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	nets := make([]time.Duration, 20)
	stats := make([]time.Duration, 20)
	for i := range nets {
		nets[i] = run("net", "--json")
		stats[i] = run("status", "--json")
	}
	n50, n99 := percentiles(nets)
	s50, _ := percentiles(stats)
	netRow(fmt.Sprintf("`consolectl net --json`, %d consoles, p50 (20 runs)", n), ms(n50), ms(s50), float64(n50)/float64(s50))
	netRow(fmt.Sprintf("`consolectl net --json`, %d consoles, slowest of 20", n), ms(n99), "", 0)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
