// Package ctl is consolectl: a table of subcommands, each with its own
// flags, speaking to a console through package client.
package ctl

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"consoled/api"
	"consoled/client"
	"consoled/replication/wire"
	"consoled/version"
)

// DefaultSocket is the control socket of a console with the default --data.
const DefaultSocket = "/var/lib/consoled/consoled.sock"

// usageError is consolectl called wrongly (exit 2); cmd names the command
// whose help to point to, if any.
type usageError struct {
	cmd string
	msg string
}

func (e usageError) Error() string { return e.msg }

func usagef(cmd, format string, a ...any) error {
	return usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

// globals are the flags accepted before or after the command.
type globals struct {
	socket     string
	remote     string // HOST[:PORT] of a console's peer port
	networkKey string // the key file for remote
	socketSet  bool   // --socket was given: it wins over $CONSOLED_REMOTE
	remoteSet  bool
	help       bool
	version    bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.Func("socket", "the console's control socket", func(v string) error {
		g.socket, g.socketSet = v, true
		return nil
	})
	fs.Func("remote", "a console's peer address, HOST[:PORT]", func(v string) error {
		g.remote, g.remoteSet = v, true
		return nil
	})
	fs.StringVar(&g.networkKey, "network-key", g.networkKey, "the show network's key file, for --remote")
	fs.BoolVar(&g.help, "help", false, "show help")
	fs.BoolVar(&g.help, "h", false, "show help")
	fs.BoolVar(&g.version, "version", false, "print consolectl's version")
}

// target is the console a command talks to: through its control socket,
// or remotely through its peer port.
type target struct {
	c      *client.Client
	remote string      // HOST:PORT when remote
	tls    *tls.Config // the show network's, when remote
	hint   string      // what to check when it cannot be reached
}

// dial makes the client the flags and the environment ask for: --remote,
// else --socket, else $CONSOLED_REMOTE, else $CONSOLED_SOCKET, else the
// default socket.
func (g *globals) dial() (*target, error) {
	if g.remoteSet && g.socketSet {
		return nil, usagef("", "--socket and --remote name two consoles: give one")
	}
	remote := g.remote
	if !g.remoteSet && !g.socketSet {
		remote = os.Getenv("CONSOLED_REMOTE")
	}
	if remote == "" {
		return &target{c: client.Unix(g.socket), hint: "is it running? --socket or $CONSOLED_SOCKET name the socket"}, nil
	}
	addr, err := client.RemoteAddr(remote)
	if err != nil {
		return nil, usagef("", "--remote: %v", err)
	}
	if g.networkKey == "" {
		return nil, usagef("", "--remote needs --network-key FILE (or $CONSOLED_NETWORK_KEY): the show network's key")
	}
	key, err := wire.LoadKey(g.networkKey)
	if err != nil {
		return nil, fmt.Errorf("--network-key: %s", strings.TrimPrefix(err.Error(), "wire: "))
	}
	cfg, err := client.TLSConfig(key)
	if err != nil {
		return nil, err
	}
	return &target{c: client.Remote(addr, cfg), remote: addr, tls: cfg,
		hint: "is it running, and is this its --listen address? --remote or $CONSOLED_REMOTE name it"}, nil
}

// Main runs consolectl with args (without the program name) and returns
// its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{socket: os.Getenv("CONSOLED_SOCKET"), networkKey: os.Getenv("CONSOLED_NETWORK_KEY")}
	if g.socket == "" {
		g.socket = DefaultSocket
	}
	fs := newFlagSet("consolectl")
	g.register(fs)
	rest, err := parseFlags(fs, args, true)
	switch {
	case err != nil:
		var ue usageError
		if !errors.As(err, &ue) {
			err = usagef("", "%v", err)
		}
		return fail(stderr, err, "")
	case g.version:
		fmt.Fprintln(stdout, version.String("consolectl"))
		return api.ExitOK
	case g.help:
		fmt.Fprint(stdout, overview())
		return api.ExitOK
	case len(rest) == 0:
		fmt.Fprint(stderr, overview())
		return api.ExitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return help(rest, stdout, stderr)
	}
	cmd := lookup(name)
	if cmd == nil {
		return fail(stderr, usagef("", "unknown command %q", name), "")
	}
	fs = newFlagSet(name)
	g.register(fs)
	cmd.register(fs)
	pos, err := parseFlags(fs, rest, false)
	var uf unknownFlag
	switch {
	case errors.As(err, &uf) && cmd.nargs > 0:
		return fail(stderr, usagef(name, "%s: %v (an argument that begins with a dash goes after --, as in consolectl set cue/1 -- -3)", name, err), "")
	case err != nil:
		return fail(stderr, usagef(name, "%s: %v", name, err), "")
	case g.version:
		fmt.Fprintln(stdout, version.String("consolectl"))
		return api.ExitOK
	case g.help:
		fmt.Fprint(stdout, cmd.usage())
		return api.ExitOK
	case len(pos) != cmd.nargs:
		return fail(stderr, usagef(name, "%s takes %s, got %d argument(s)", name, cmd.argsText(), len(pos)), "")
	}
	tg, err := g.dial()
	if err != nil {
		return fail(stderr, err, "")
	}
	defer tg.c.Close()
	inv := &invocation{ctx: context.Background(), c: tg.c, target: tg, fs: fs, args: pos, stdin: stdin, out: stdout}
	inv.errOut = stderr
	return fail(stderr, cmd.run(inv), tg.hint)
}

// fail prints err, if any, and returns the exit status it calls for; hint
// says what to check when the console could not be reached.
func fail(stderr io.Writer, err error, hint string) int {
	var ue usageError
	var ae *api.Error
	var de *client.DialError
	switch {
	case err == nil:
		return api.ExitOK
	case errors.As(err, &ue):
		hint := "consolectl --help lists the commands"
		if ue.cmd != "" {
			hint = "consolectl help " + ue.cmd + " shows how to use it"
		}
		fmt.Fprintf(stderr, "consolectl: %s\n(%s)\n", ue.msg, hint)
		return api.ExitUsage
	case errors.As(err, &ae):
		fmt.Fprintf(stderr, "consolectl: %s\n", oneLine(ae.Message))
		return ae.Kind.ExitCode()
	case errors.As(err, &de) && errors.Is(de.Err, wire.ErrAuth):
		fmt.Fprintf(stderr, "consolectl: %s refused the connection: not authenticated (it holds another network key than --network-key): %s\n", de.Where, oneLine(de.Err.Error()))
		return api.ExitError
	case errors.As(err, &de):
		if hint == "" {
			hint = "is it running?"
		}
		fmt.Fprintf(stderr, "consolectl: cannot reach consoled at %s (%s): %v\n", de.Where, hint, oneLine(de.Err.Error()))
		return api.ExitError
	}
	fmt.Fprintf(stderr, "consolectl: %s\n", oneLine(err.Error()))
	return api.ExitError
}

// oneLine keeps an error to the one line the Contract promises.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// help is `consolectl help [COMMAND]`.
func help(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(stdout, overview())
		return api.ExitOK
	case len(args) > 1:
		return fail(stderr, usagef("", "help takes at most one COMMAND, got %d arguments", len(args)), "")
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return fail(stderr, usagef("", "help: unknown command %q", args[0]), "")
	}
	fmt.Fprint(stdout, cmd.usage())
	return api.ExitOK
}

func overview() string {
	var b strings.Builder
	b.WriteString("usage: consolectl [--socket PATH] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-27s  %s\n", c.synopsis(), c.summary)
	}
	b.WriteString("  help [COMMAND]               this, or how to use COMMAND\n")
	b.WriteString(`
Flags go before or after the command and its arguments; -- ends them, so a
value may begin with a dash: consolectl set cue/1 -- -3.
The socket is --socket, else $CONSOLED_SOCKET, else ` + DefaultSocket + `.
--remote HOST[:PORT] (else $CONSOLED_REMOTE) runs the command on the console
whose peer port that is (default port ` + client.DefaultPort + `), over the show network,
authenticated by the network key in --network-key FILE (else
$CONSOLED_NETWORK_KEY).
--version prints consolectl's version.
Exit status: 0 done, 1 error, 2 usage, 3 refused by a guard, 4 the outcome
of an edit is unknown (its path broke before the answer came; retrying is safe).
`)
	return b.String()
}

// unknownFlag is an argument that looks like a flag no one defines.
type unknownFlag string

func (f unknownFlag) Error() string { return "unknown flag " + string(f) }

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses the flags in args into fs and returns the other
// arguments. Flags may come before, between and after them; "--" ends the
// flags; a lone "-" is an argument. With first, parsing stops at the first
// argument (the command), leaving it and all after it.
func parseFlags(fs *flag.FlagSet, args []string, first bool) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			if first {
				return args[i:], nil
			}
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil || strings.HasPrefix(a, "---") {
			return nil, unknownFlag(a)
		}
		one := args[i : i+1]
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", a)
			}
			one = args[i : i+2]
			i++
		}
		if err := fs.Parse(one); err != nil {
			return nil, err
		}
	}
	return pos, nil
}
