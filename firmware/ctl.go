package firmware

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"consoled/api"
	"consoled/hal"
)

// consolectl's exit statuses (the Contract).
const (
	ExitOK      = 0
	ExitError   = 1
	ExitUsage   = 2
	ExitRefused = 3
)

// DefaultSocket is the control socket of a console with the default --data.
const DefaultSocket = "/var/lib/consoled/consoled.sock"

const ctlUsage = `usage: consolectl [--socket PATH] COMMAND [ARGS]

commands:
  status [--json]              role, show, lineage, peers, LEDs, link
  launch SHOW [--force]        log on to SHOW; --force overrides the stale-launch guard
  logoff                       log off the show
  set KEY VALUE                record an edit (KEY like cue/1.5), once acknowledged;
                               VALUE - reads the value from stdin
  delete KEY                   record a deletion
  get KEY                      print one object's value
  dump [--json]                every object of the live show, and its digest
  press BUTTON [--hold DUR]    press a front-panel button (mock board): launch, logoff
  link up|down                 set the NIC link (mock board)
  panel [--json]               the LEDs as the front panel shows them
  archives [--json]            list kept copies of shows
  restore NAME                 bring an archive back as a show of its own
  ack                          acknowledge the merge reports (FAULT stops blinking)
  network-key                  print the show network key, to provision another console

The socket is --socket, else $CONSOLED_SOCKET, else ` + DefaultSocket + `.
Exit status: 0 done, 1 error, 2 usage, 3 refused by a guard.
`

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// ctlArgs splits a command's arguments into positionals and the flags it
// knows. Flags may come before or after positionals; "--" ends the flags.
type ctlArgs struct {
	pos   []string
	bools map[string]bool
	vals  map[string]string
}

// parseCtlArgs also checks the command got n positionals; names describes
// them in the usage error.
func parseCtlArgs(cmd string, args []string, n int, names string, boolFlags, valFlags []string) (ctlArgs, error) {
	a := ctlArgs{bools: map[string]bool{}, vals: map[string]string{}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			a.pos = append(a.pos, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			a.pos = append(a.pos, arg)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch {
		case slices.Contains(boolFlags, name) && !hasVal:
			a.bools[name] = true
		case slices.Contains(valFlags, name):
			if !hasVal {
				if i+1 >= len(args) {
					return a, usageError{fmt.Sprintf("%s: flag --%s needs a value", cmd, name)}
				}
				i++
				val = args[i]
			}
			a.vals[name] = val
		default:
			return a, usageError{fmt.Sprintf("%s: unknown flag %s", cmd, arg)}
		}
	}
	if len(a.pos) != n {
		return a, usageError{fmt.Sprintf("%s takes %s, got %d argument(s)", cmd, names, len(a.pos))}
	}
	return a, nil
}

// RunCtl is consolectl: it runs one command and returns the exit status.
func RunCtl(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	socket := os.Getenv("CONSOLED_SOCKET")
	if socket == "" {
		socket = DefaultSocket
	}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		switch {
		case name == "h" || name == "help":
			fmt.Fprint(stdout, ctlUsage)
			return ExitOK
		case name == "socket" && hasVal:
			socket, args = val, args[1:]
		case name == "socket" && len(args) > 1:
			socket, args = args[1], args[2:]
		default:
			fmt.Fprintf(stderr, "consolectl: unknown flag %s\n%s", args[0], ctlUsage)
			return ExitUsage
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, ctlUsage)
		return ExitUsage
	}
	c := NewClient(socket)
	defer c.Close()
	err := ctlCommand(context.Background(), c, args[0], args[1:], stdin, stdout)
	var ue usageError
	var ae *APIError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "consolectl: %s\n(consolectl --help lists the commands)\n", ue.msg)
		return ExitUsage
	case errors.As(err, &ae) && ae.Refused():
		fmt.Fprintf(stderr, "consolectl: %s\n", ae.Msg)
		return ExitRefused
	default:
		fmt.Fprintf(stderr, "consolectl: %s\n", err)
		return ExitError
	}
}

func ctlCommand(ctx context.Context, c *Client, cmd string, args []string, stdin io.Reader, out io.Writer) error {
	switch cmd {
	case "status":
		a, err := parseCtlArgs(cmd, args, 0, "no arguments", []string{"json"}, nil)
		if err != nil {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if a.bools["json"] {
			return printJSON(out, st)
		}
		printStatus(out, st)
		return nil

	case "launch":
		a, err := parseCtlArgs(cmd, args, 1, "one SHOW", []string{"force"}, nil)
		if err != nil {
			return err
		}
		st, err := c.Launch(ctx, a.pos[0], a.bools["force"])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s at seq %d\n", st.Show, st.Role, st.Seq)
		return nil

	case "logoff":
		_, err := parseCtlArgs(cmd, args, 0, "no arguments", nil, nil)
		if err != nil {
			return err
		}
		if _, err := c.Logoff(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, "logged off")
		return nil

	case "set":
		a, err := parseCtlArgs(cmd, args, 2, "KEY VALUE", nil, nil)
		if err != nil {
			return err
		}
		value := a.pos[1]
		if value == "-" { // large values (a whole patch) do not fit in argv
			b, err := io.ReadAll(io.LimitReader(stdin, 4<<20))
			if err != nil {
				return fmt.Errorf("set: reading the value from stdin: %w", err)
			}
			value = string(b)
		}
		seq, err := c.Set(ctx, a.pos[0], value)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s set at seq %d\n", a.pos[0], seq)
		return nil

	case "delete":
		a, err := parseCtlArgs(cmd, args, 1, "one KEY", nil, nil)
		if err != nil {
			return err
		}
		seq, err := c.Delete(ctx, a.pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s deleted at seq %d\n", a.pos[0], seq)
		return nil

	case "get":
		a, err := parseCtlArgs(cmd, args, 1, "one KEY", nil, nil)
		if err != nil {
			return err
		}
		v, err := c.Get(ctx, a.pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, v)
		return nil

	case "dump":
		a, err := parseCtlArgs(cmd, args, 0, "no arguments", []string{"json"}, nil)
		if err != nil {
			return err
		}
		if a.bools["json"] {
			return c.DumpTo(ctx, out)
		}
		d, err := c.Dump(ctx)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(out)
		for _, o := range d.Objects {
			fmt.Fprintf(w, "%s\t%s\n", o.Key, o.Value)
		}
		fmt.Fprintf(w, "# show %s, %d objects, seq %d, digest %s\n", d.Show, len(d.Objects), d.Seq, d.Digest)
		return w.Flush()

	case "press":
		a, err := parseCtlArgs(cmd, args, 1, "one BUTTON (launch or logoff)", nil, []string{"hold"})
		if err != nil {
			return err
		}
		var hold time.Duration
		if h, ok := a.vals["hold"]; ok {
			if hold, err = time.ParseDuration(h); err != nil || hold < 0 {
				return usageError{fmt.Sprintf("press: --hold %q: want a duration like 3s", h)}
			}
		}
		if !slices.Contains(hal.ButtonNames, a.pos[0]) {
			return usageError{fmt.Sprintf("press: unknown button %q (buttons: %s)", a.pos[0], strings.Join(hal.ButtonNames, ", "))}
		}
		r, err := c.Press(ctx, a.pos[0], hold)
		if err != nil {
			return err
		}
		var failed []string
		for _, res := range r.Results {
			if res.Error != "" {
				fmt.Fprintf(out, "%s: %s: %s\n", res.Gesture, res.Command, res.Error)
				failed = append(failed, res.Command)
			} else {
				fmt.Fprintf(out, "%s: %s: done\n", res.Gesture, res.Command)
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("press %s: %s failed", a.pos[0], strings.Join(failed, ", "))
		}
		return nil

	case "link":
		a, err := parseCtlArgs(cmd, args, 1, "up or down", nil, nil)
		if err != nil {
			return err
		}
		if a.pos[0] != "up" && a.pos[0] != "down" {
			return usageError{fmt.Sprintf("link: want up or down, got %q", a.pos[0])}
		}
		st, err := c.Link(ctx, a.pos[0] == "up")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "link %s\n", st.Link)
		return nil

	case "panel":
		a, err := parseCtlArgs(cmd, args, 0, "no arguments", []string{"json"}, nil)
		if err != nil {
			return err
		}
		leds, err := c.Panel(ctx)
		if err != nil {
			return err
		}
		if a.bools["json"] {
			return printJSON(out, leds)
		}
		for _, n := range hal.LEDNames {
			fmt.Fprintf(out, "%-7s %s\n", n, leds[n])
		}
		return nil

	case "archives":
		a, err := parseCtlArgs(cmd, args, 0, "no arguments", []string{"json"}, nil)
		if err != nil {
			return err
		}
		list, err := c.Archives(ctx)
		if err != nil {
			return err
		}
		if a.bools["json"] {
			return printJSON(out, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(out, "no archives")
		}
		for _, x := range list {
			fmt.Fprintf(out, "%s\tshow %s\ton %s\t%s\t%d edits\t%s\n", x.Name, x.Show, x.Console, x.Time.Format(time.RFC3339), x.Edits, x.Why)
		}
		return nil

	case "ack":
		_, err := parseCtlArgs(cmd, args, 0, "no arguments", nil, nil)
		if err != nil {
			return err
		}
		n, err := c.Ack(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "acknowledged %d merge reports\n", n)
		return nil

	case "restore":
		a, err := parseCtlArgs(cmd, args, 1, "one archive NAME (see consolectl archives)", nil, nil)
		if err != nil {
			return err
		}
		show, err := c.Restore(ctx, a.pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "restored archive %s as show %s (consolectl launch %s)\n", a.pos[0], show, show)
		return nil

	case "network-key":
		_, err := parseCtlArgs(cmd, args, 0, "no arguments", nil, nil)
		if err != nil {
			return err
		}
		k, err := c.NetworkKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, k.Key)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

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
	for _, n := range hal.LEDNames {
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
	for _, f := range st.Faults {
		row("fault", "%s (%s): %s", f.Kind, f.Level, f.Message)
	}
}
