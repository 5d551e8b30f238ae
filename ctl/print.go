package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"consoled/api"
)

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printStatus is `consolectl status`.
func printStatus(out io.Writer, st api.Status) {
	row := func(k, format string, a ...any) { fmt.Fprintf(out, "%-8s "+format+"\n", append([]any{k}, a...)...) }
	row("console", "%s", st.Console)
	row("role", "%s", st.Role)
	if st.Show != "" {
		row("show", "%s (id %s)", st.Show, st.ShowID)
		row("epoch", "%s (%d in history)", st.Epoch, len(st.Epochs))
		row("seq", "%d", st.Seq)
	}
	row("stale", "%v", st.Stale)
	if st.WaitingFor != "" {
		row("waiting", "for the master console %s to launch first (--master-grace)", st.WaitingFor)
	}
	for _, m := range st.Merges {
		row("merge", "with %s at %s: %d objects taken from its copy, %d changed on both sides (ours kept, its versions archived on %s) %s; consolectl ack when checked",
			m.With, m.Time.Local().Format(time.DateTime), m.Merged, len(m.Conflicts), m.With, strings.Join(m.Conflicts, " "))
	}
	row("link", "%s", st.Link)
	var leds []string
	for _, n := range api.LEDs {
		leds = append(leds, n+"="+st.LEDs[n])
	}
	row("leds", "%s", strings.Join(leds, " "))
	if len(st.Peers) == 0 {
		row("peers", "none")
	}
	for _, p := range st.Peers {
		conn := "connected"
		if !p.Connected {
			conn = "not connected"
		}
		row("peer", "%s %s %s seq %d %s", p.Console, p.Role, p.Show, p.Seq, conn)
	}
	if st.Active != "" {
		row("active", "%s", st.Active)
	}
	row("network", "listen %s, key %s, %d refused, %d full syncs, %d catch-ups, ack %s",
		st.Listen, st.NetworkKey, st.AuthRefused, st.FullSyncs, st.CatchUps, st.Ack)
	if st.RemoteControl != "" {
		row("remote", "control %s", st.RemoteControl)
	}
	if r := st.Resume; r != nil {
		show := ""
		if r.Show != "" {
			show = r.Show + ": "
		}
		row("resume", "%s%s since %s", show, r.Outcome, r.Since.Local().Format(time.DateTime))
	}
	row("fds", "%d open, limit %d", st.Descriptors.Open, st.Descriptors.Limit)
	for _, f := range st.Faults {
		row("fault", "%s (%s): %s", f.Kind, f.Level, f.Message)
	}
}
