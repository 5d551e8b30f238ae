// Package ctl is consolectl: a table of subcommands, each with its own
// flags, speaking to a console through package client.
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"consoled/api"
	"consoled/client"
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
	socket  string
	help    bool
	version bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.socket, "socket", g.socket, "the console's control socket")
	fs.BoolVar(&g.help, "help", false, "show help")
	fs.BoolVar(&g.help, "h", false, "show help")
	fs.BoolVar(&g.version, "version", false, "print consolectl's version")
}

// Main runs consolectl with args (without the program name) and returns
// its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{socket: os.Getenv("CONSOLED_SOCKET")}
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
		return fail(stderr, err)
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
		return fail(stderr, usagef("", "unknown command %q", name))
	}
	fs = newFlagSet(name)
	g.register(fs)
	cmd.register(fs)
	pos, err := parseFlags(fs, rest, false)
	var uf unknownFlag
	switch {
	case errors.As(err, &uf) && cmd.nargs > 0:
		return fail(stderr, usagef(name, "%s: %v (an argument that begins with a dash goes after --, as in consolectl set cue/1 -- -3)", name, err))
	case err != nil:
		return fail(stderr, usagef(name, "%s: %v", name, err))
	case g.version:
		fmt.Fprintln(stdout, version.String("consolectl"))
		return api.ExitOK
	case g.help:
		fmt.Fprint(stdout, cmd.usage())
		return api.ExitOK
	case len(pos) != cmd.nargs:
		return fail(stderr, usagef(name, "%s takes %s, got %d argument(s)", name, cmd.argsText(), len(pos)))
	}
	c := client.Unix(g.socket)
	defer c.Close()
	inv := &invocation{ctx: context.Background(), c: c, fs: fs, args: pos, stdin: stdin, out: stdout}
	inv.errOut = stderr
	return fail(stderr, cmd.run(inv))
}

// fail prints err, if any, and returns the exit status it calls for.
func fail(stderr io.Writer, err error) int {
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
	case errors.As(err, &de):
		fmt.Fprintf(stderr, "consolectl: cannot reach consoled at %s (is it running? --socket or $CONSOLED_SOCKET name the socket): %v\n", de.Where, de.Err)
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
		return fail(stderr, usagef("", "help takes at most one COMMAND, got %d arguments", len(args)))
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return fail(stderr, usagef("", "help: unknown command %q", args[0]))
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
