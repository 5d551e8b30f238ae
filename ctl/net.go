package ctl

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"consoled/api"
	"consoled/client"
	"consoled/replication/wire"
)

// consolectl net: every console of the show network. The console the
// command reaches (socket or --remote) lists its peers with their
// addresses; each is asked for its own status over remote control, and the
// consoles they list that no one listed before are asked in turn. Over the
// socket, the network key comes from the console itself.

// netAskTimeout bounds asking one console for its status.
const netAskTimeout = 3 * time.Second

func runNet(inv *invocation) error {
	interval := 2 * time.Second
	if v, ok := inv.value("interval"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return usagef("net", "net: --interval %q: want a duration of at least 100ms, like 2s", v)
		}
		interval = d
	}
	asJSON := inv.bool("json")
	if !inv.bool("watch") {
		n, err := scanNet(inv.ctx, inv.target)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(inv.out, n)
		}
		return printNet(inv.out, n)
	}
	redraw := isTerminal(inv.out)
	for {
		n, err := scanNet(inv.ctx, inv.target)
		switch {
		case asJSON && err == nil:
			b, _ := json.Marshal(n)
			fmt.Fprintf(inv.out, "%s\n", b)
		case asJSON:
			b, _ := json.Marshal(api.ErrorAnswer{Error: oneLine(err.Error()), Kind: api.KindInternal})
			fmt.Fprintf(inv.out, "%s\n", b)
		default:
			if redraw {
				fmt.Fprint(inv.out, "\x1b[H\x1b[2J") // home, clear
			}
			if err != nil {
				fmt.Fprintf(inv.out, "consolectl: %s\n", oneLine(err.Error()))
			} else {
				printNet(inv.out, n)
			}
			fmt.Fprintf(inv.out, "\n%s, every %s (Ctrl-C ends)\n", time.Now().Format(time.TimeOnly), interval)
			if !redraw {
				fmt.Fprintln(inv.out)
			}
		}
		select {
		case <-time.After(interval):
		case <-inv.ctx.Done():
			return nil
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// scanNet asks the target console and then every console it and the
// others list.
func scanNet(ctx context.Context, tg *target) (api.Net, error) {
	first, err := tg.c.Status(ctx)
	if err != nil {
		return api.Net{}, err
	}
	cfg := tg.tls
	if cfg == nil {
		k, err := tg.c.NetworkKey(ctx)
		if err != nil {
			return api.Net{}, fmt.Errorf("net: the console's network key: %w", err)
		}
		key, err := wire.ParseKey(k.Key)
		if err != nil {
			return api.Net{}, fmt.Errorf("net: the console's network key: %w", err)
		}
		if cfg, err = client.TLSConfig(key); err != nil {
			return api.Net{}, err
		}
	}
	addr := tg.remote
	if addr == "" {
		addr = first.Listen
	}
	rows := map[string]*api.NetConsole{first.Console: netRow(first, addr)}
	// What was heard of each console: where to ask it, and what to show of
	// one that cannot be asked. A connected console's view is the freshest.
	heard := map[string]api.Peer{}
	queued := map[string]bool{first.Console: true}
	var next []string
	note := func(st api.Status) {
		for _, p := range st.Peers {
			h, ok := heard[p.Console]
			if !ok || p.Connected && !h.Connected || h.Address == "" && p.Address != "" {
				heard[p.Console] = p
			}
			if !queued[p.Console] {
				queued[p.Console] = true
				next = append(next, p.Console)
			}
		}
	}
	note(first)
	for len(next) > 0 {
		var asking []api.Peer
		for _, id := range next {
			asking = append(asking, heard[id])
		}
		next = nil
		for i, a := range askAll(ctx, asking, cfg) {
			p := asking[i]
			switch {
			case a.err != "":
				rows[p.Console] = &api.NetConsole{Console: p.Console, Address: p.Address, Role: p.Role, Show: p.Show, Seq: p.Seq,
					Faults: []api.Fault{}, Error: a.err}
			case rows[a.st.Console] == nil: // else another console answered at that address, listed already
				rows[a.st.Console] = netRow(a.st, p.Address)
				note(a.st)
			}
		}
	}
	if a := heard[first.Console].Address; tg.remote == "" && a != "" {
		rows[first.Console].Address = a // where the others reach it, not what it listens on
	}
	out := api.Net{Consoles: []api.NetConsole{}}
	for _, r := range rows {
		out.Consoles = append(out.Consoles, *r)
	}
	slices.SortFunc(out.Consoles, func(a, b api.NetConsole) int { return strings.Compare(a.Console, b.Console) })
	setLags(out.Consoles)
	return out, nil
}

func netRow(st api.Status, addr string) *api.NetConsole {
	faults := st.Faults
	if faults == nil {
		faults = []api.Fault{}
	}
	return &api.NetConsole{Console: st.Console, Address: addr, Role: st.Role, Show: st.Show, Seq: st.Seq, Link: st.Link, Faults: faults}
}

type netAnswer struct {
	st  api.Status
	err string
}

// askAll asks each console for its status at once.
func askAll(ctx context.Context, ps []api.Peer, cfg *tls.Config) []netAnswer {
	out := make([]netAnswer, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		if p.Address == "" {
			out[i].err = "its address is not known"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client.Remote(p.Address, cfg)
			defer c.Close()
			actx, cancel := context.WithTimeout(ctx, netAskTimeout)
			defer cancel()
			st, err := c.Status(actx)
			if err != nil {
				out[i].err = oneLine(err.Error())
				return
			}
			out[i].st = st
		}()
	}
	wg.Wait()
	return out
}

// setLags fills in how far each console is behind the active of its show
// (the one furthest ahead, should a split network show two).
func setLags(cs []api.NetConsole) {
	active := map[string]uint64{}
	for _, c := range cs {
		if c.Role == "active" && c.Error == "" && c.Show != "" {
			active[c.Show] = max(active[c.Show], c.Seq)
		}
	}
	for i := range cs {
		c := &cs[i]
		seq, ok := active[c.Show]
		if !ok || c.Role == "off" || c.Show == "" {
			continue
		}
		lag := uint64(0)
		if seq > c.Seq {
			lag = seq - c.Seq
		}
		c.Lag = &lag
	}
}

// printNet is `consolectl net`.
func printNet(out io.Writer, n api.Net) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSOLE\tADDRESS\tROLE\tSHOW\tSEQ\tLAG\tLINK\tFAULTS")
	for _, c := range n.Consoles {
		dash := func(s string) string {
			if s == "" {
				return "-"
			}
			return s
		}
		lag := "-"
		if c.Lag != nil {
			lag = fmt.Sprint(*c.Lag)
		}
		var faults []string
		for _, f := range c.Faults {
			faults = append(faults, f.Kind+": "+f.Message)
		}
		if c.Error != "" {
			faults = append(faults, "not asked: "+c.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", c.Console, dash(c.Address), dash(c.Role), dash(c.Show), c.Seq, lag, dash(c.Link), dash(strings.Join(faults, "; ")))
	}
	return tw.Flush()
}
