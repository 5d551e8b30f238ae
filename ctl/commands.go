package ctl

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"consoled/api"
	"consoled/client"
)

// command is one consolectl command.
type command struct {
	name    string
	args    []string // its arguments' names, for usage: KEY VALUE
	nargs   int      // how many it takes
	summary string   // one line, for the overview
	more    string   // more about it, for its help
	flags   []flagDef
	run     func(*invocation) error
}

// flagDef is a command's flag; a bool flag has no value name.
type flagDef struct {
	name, value, usage string
}

// invocation is a command being run.
type invocation struct {
	ctx    context.Context
	c      *client.Client
	target *target
	fs     *flag.FlagSet
	args   []string
	stdin  io.Reader
	out    io.Writer
	// errOut is stderr: progress goes there, so that out stays the
	// answer a script reads.
	errOut io.Writer
}

func (inv *invocation) bool(name string) bool {
	return inv.fs.Lookup(name).Value.(flag.Getter).Get().(bool)
}

// value returns a flag's value and whether it was given.
func (inv *invocation) value(name string) (string, bool) {
	given := false
	inv.fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return inv.fs.Lookup(name).Value.String(), given
}

var jsonFlag = flagDef{"json", "", "print JSON (the Contract's keys)"}

// commands is consolectl's table of commands, in the order help lists them.
var commands = []*command{
	{name: "status", summary: "role, show, lineage, peers, LEDs, link, faults", flags: []flagDef{jsonFlag}, run: runStatus},
	{name: "launch", args: []string{"SHOW"}, nargs: 1, summary: "log on to SHOW; --force overrides the stale-launch guard",
		more:  "Joins SHOW's active server as a backup, or becomes its active server when none is on the network.",
		flags: []flagDef{{"force", "", "launch a copy that may be outdated (the stale-launch guard refuses it with exit 3)"}}, run: runLaunch},
	{name: "logoff", summary: "log off the show", run: runLogoff},
	{name: "set", args: []string{"KEY", "VALUE"}, nargs: 2, summary: "record an edit (KEY like cue/1.5), once acknowledged",
		more: "VALUE - reads the value from stdin; a VALUE that begins with a dash goes after --: set cue/1 -- -3.", run: runSet},
	{name: "delete", args: []string{"KEY"}, nargs: 1, summary: "record a deletion", run: runDelete},
	{name: "get", args: []string{"KEY"}, nargs: 1, summary: "print one object's value", run: runGet},
	{name: "dump", summary: "every object of the live show, and its digest", flags: []flagDef{jsonFlag}, run: runDump},
	{name: "press", args: []string{"BUTTON"}, nargs: 1, summary: "press a front-panel button: " + strings.Join(api.Buttons, ", "),
		more:  "Works on a board whose buttons software can press (the mock board); holding launch for 3s is the forced launch.",
		flags: []flagDef{{"hold", "DUR", "hold the button this long, like 3s"}}, run: runPress},
	{name: "link", args: []string{"up|down"}, nargs: 1, summary: "plug or pull the network cable (mock board)", run: runLink},
	{name: "panel", summary: "the LEDs as the front panel shows them", flags: []flagDef{jsonFlag}, run: runPanel},
	{name: "archives", summary: "list kept copies of shows", flags: []flagDef{jsonFlag}, run: runArchives},
	{name: "restore", args: []string{"NAME"}, nargs: 1, summary: "bring an archive back as a show of its own", run: runRestore},
	{name: "ack", summary: "acknowledge the merge reports (FAULT stops blinking)", run: runAck},
	{name: "network-key", summary: "print the show network key, to provision another console", run: runNetworkKey},
	{name: "net", summary: "every console of the show network: address, role, show, seq, lag, link, faults",
		more: "Found from this console's peers (and theirs), each asked over the show network as --remote does; over the socket the network key comes from the console.\n" +
			"LAG is how many edits a console is behind its show's active. --watch redraws every --interval until Ctrl-C (--json: one line each time).",
		flags: []flagDef{jsonFlag, {"watch", "", "refresh in place"}, {"interval", "DUR", "how often --watch refreshes (default 2s)"}}, run: runNet},
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (c *command) register(fs *flag.FlagSet) {
	for _, f := range c.flags {
		if f.value == "" {
			fs.Bool(f.name, false, f.usage)
		} else {
			fs.String(f.name, "", f.usage)
		}
	}
}

// synopsis is the command with its arguments and flags.
func (c *command) synopsis() string {
	parts := append([]string{c.name}, c.args...)
	for _, f := range c.flags {
		if f.value == "" {
			parts = append(parts, "[--"+f.name+"]")
		} else {
			parts = append(parts, "[--"+f.name+" "+f.value+"]")
		}
	}
	return strings.Join(parts, " ")
}

func (c *command) argsText() string {
	if c.nargs == 0 {
		return "no arguments"
	}
	return strings.Join(c.args, " ")
}

// usage is `consolectl help COMMAND`.
func (c *command) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: consolectl [--socket PATH] %s\n\n%s.\n", c.synopsis(), strings.ToUpper(c.summary[:1])+c.summary[1:])
	if c.more != "" {
		fmt.Fprintf(&b, "%s\n", c.more)
	}
	b.WriteString("\nflags:\n")
	for _, f := range c.flags {
		fmt.Fprintf(&b, "  %-16s %s\n", strings.TrimSpace("--"+f.name+" "+f.value), f.usage)
	}
	fmt.Fprintf(&b, "  %-16s %s\n", "--socket PATH", "the control socket (else $CONSOLED_SOCKET, else "+DefaultSocket+")")
	fmt.Fprintf(&b, "  %-16s %s\n", "--remote HOST[:PORT]", "instead, the console whose peer port that is, over the show network (else $CONSOLED_REMOTE)")
	fmt.Fprintf(&b, "  %-16s %s\n", "--network-key FILE", "the show network's key, for --remote (else $CONSOLED_NETWORK_KEY)")
	fmt.Fprintf(&b, "  %-16s %s\n", "--help", "this")
	return b.String()
}

func runStatus(inv *invocation) error {
	st, err := inv.c.Status(inv.ctx)
	if err != nil {
		return err
	}
	if inv.bool("json") {
		return printJSON(inv.out, st)
	}
	printStatus(inv.out, st)
	return nil
}

func runLaunch(inv *invocation) error {
	stop := watchCopy(inv.c, inv.errOut)
	st, err := inv.c.Launch(inv.ctx, inv.args[0], inv.bool("force"))
	stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(inv.out, "%s: %s at seq %d\n", st.Show, st.Role, st.Seq)
	return nil
}

func runLogoff(inv *invocation) error {
	if _, err := inv.c.Logoff(inv.ctx); err != nil {
		return err
	}
	fmt.Fprintln(inv.out, "logged off")
	return nil
}

// maxStdinValue bounds what set reads from stdin: more than a console takes,
// so that the console's own message names the limit.
const maxStdinValue = 4 << 20

func runSet(inv *invocation) error {
	key, value := inv.args[0], inv.args[1]
	if value == "-" { // large values (a whole patch) do not fit in argv
		b, err := io.ReadAll(io.LimitReader(inv.stdin, maxStdinValue))
		if err != nil {
			return fmt.Errorf("set: reading the value from stdin: %w", err)
		}
		value = string(b)
	}
	seq, err := inv.c.Set(inv.ctx, key, value)
	if err != nil {
		return err
	}
	fmt.Fprintf(inv.out, "%s set at seq %d\n", key, seq)
	return nil
}

func runDelete(inv *invocation) error {
	seq, err := inv.c.Delete(inv.ctx, inv.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(inv.out, "%s deleted at seq %d\n", inv.args[0], seq)
	return nil
}

func runGet(inv *invocation) error {
	v, err := inv.c.Get(inv.ctx, inv.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(inv.out, v)
	return nil
}

func runDump(inv *invocation) error {
	if inv.bool("json") {
		return inv.c.DumpTo(inv.ctx, inv.out)
	}
	d, err := inv.c.Dump(inv.ctx)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(inv.out)
	for _, o := range d.Objects {
		fmt.Fprintf(w, "%s\t%s\n", o.Key, o.Value)
	}
	fmt.Fprintf(w, "# show %s, %d objects, seq %d, digest %s\n", d.Show, len(d.Objects), d.Seq, d.Digest)
	return w.Flush()
}

func runPress(inv *invocation) error {
	button := inv.args[0]
	var hold time.Duration
	if h, ok := inv.value("hold"); ok {
		var err error
		if hold, err = time.ParseDuration(h); err != nil || hold < 0 {
			return usagef("press", "press: --hold %q: want a duration like 3s", h)
		}
	}
	if !slices.Contains(api.Buttons, button) {
		return usagef("press", "press: unknown button %q (buttons: %s)", button, strings.Join(api.Buttons, ", "))
	}
	r, err := inv.c.Press(inv.ctx, button, hold)
	if err != nil {
		return err
	}
	var failed []string
	for _, res := range r.Results {
		if res.Error != "" {
			fmt.Fprintf(inv.out, "%s: %s: %s\n", res.Gesture, res.Command, res.Error)
			failed = append(failed, res.Command)
		} else {
			fmt.Fprintf(inv.out, "%s: %s: done\n", res.Gesture, res.Command)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("press %s: %s failed", button, strings.Join(failed, ", "))
	}
	return nil
}

func runLink(inv *invocation) error {
	arg := inv.args[0]
	if arg != "up" && arg != "down" {
		return usagef("link", "link: want up or down, got %q", arg)
	}
	st, err := inv.c.Link(inv.ctx, arg == "up")
	if err != nil {
		return err
	}
	fmt.Fprintf(inv.out, "link %s\n", st.Link)
	return nil
}

func runPanel(inv *invocation) error {
	leds, err := inv.c.Panel(inv.ctx)
	if err != nil {
		return err
	}
	if inv.bool("json") {
		return printJSON(inv.out, leds)
	}
	for _, n := range api.LEDs {
		fmt.Fprintf(inv.out, "%-7s %s\n", n, leds[n])
	}
	return nil
}

func runArchives(inv *invocation) error {
	list, err := inv.c.Archives(inv.ctx)
	if err != nil {
		return err
	}
	if inv.bool("json") {
		return printJSON(inv.out, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(inv.out, "no archives")
	}
	for _, x := range list {
		fmt.Fprintf(inv.out, "%s\tshow %s\ton %s\t%s\t%d edits\t%s\n", x.Name, x.Show, x.Console, x.Time.Format(time.RFC3339), x.Edits, x.Why)
	}
	return nil
}

func runRestore(inv *invocation) error {
	show, err := inv.c.Restore(inv.ctx, inv.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(inv.out, "restored archive %s as show %s (consolectl launch %s)\n", inv.args[0], show, show)
	return nil
}

func runAck(inv *invocation) error {
	n, err := inv.c.Ack(inv.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(inv.out, "acknowledged %d merge reports\n", n)
	return nil
}

func runNetworkKey(inv *invocation) error {
	k, err := inv.c.NetworkKey(inv.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(inv.out, k.Key)
	return nil
}
