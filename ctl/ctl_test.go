package ctl

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"

	"consoled/api"
	"consoled/client"
	"consoled/replication/wire"
)

func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		pos     []string
		json    bool
		hold    string
		wantErr string
	}{
		{args: []string{"a", "b"}, pos: []string{"a", "b"}},
		{args: []string{"--json", "a"}, pos: []string{"a"}, json: true},
		{args: []string{"a", "--json"}, pos: []string{"a"}, json: true},
		{args: []string{"-json=true", "a"}, pos: []string{"a"}, json: true},
		{args: []string{"a", "--hold", "3s", "b"}, pos: []string{"a", "b"}, hold: "3s"},
		{args: []string{"a", "--hold=3s"}, pos: []string{"a"}, hold: "3s"},
		{args: []string{"a", "--", "-3", "--json"}, pos: []string{"a", "-3", "--json"}},
		{args: []string{"a", "-"}, pos: []string{"a", "-"}},
		{args: []string{"a", "-3"}, wantErr: "unknown flag -3"},
		{args: []string{"--yaml"}, wantErr: "unknown flag --yaml"},
		{args: []string{"a", "--hold"}, wantErr: "flag --hold needs a value"},
		{args: []string{"---json"}, wantErr: "unknown flag ---json"},
	} {
		fs := newFlagSet("x")
		js := fs.Bool("json", false, "")
		hold := fs.String("hold", "", "")
		pos, err := parseFlags(fs, c.args, false)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(pos, c.pos) || *js != c.json || *hold != c.hold {
			t.Errorf("%q: %q json %v hold %q (%v), want %q %v %q", c.args, pos, *js, *hold, err, c.pos, c.json, c.hold)
		}
	}
	// Before the command, parsing stops at the command.
	fs := newFlagSet("consolectl")
	g := &globals{}
	g.register(fs)
	rest, err := parseFlags(fs, []string{"--socket", "/s", "set", "--socket", "/t", "k", "v"}, true)
	if err != nil || g.socket != "/s" || !slices.Equal(rest, []string{"set", "--socket", "/t", "k", "v"}) {
		t.Errorf("global flags: %q socket %q (%v)", rest, g.socket, err)
	}
}

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// Help and usage mistakes, which need no console.
func TestHelpAndUsage(t *testing.T) {
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "usage: consolectl"},
		{[]string{"--help"}, 0, "commands:", ""},
		{[]string{"help"}, 0, "set KEY VALUE", ""},
		{[]string{"help", "set"}, 0, "usage: consolectl [--socket PATH] set KEY VALUE", ""},
		{[]string{"set", "--help"}, 0, "VALUE - reads the value from stdin", ""},
		{[]string{"status", "-h"}, 0, "--json", ""},
		{[]string{"help", "frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"--colour"}, 2, "", "unknown flag --colour"},
		{[]string{"--socket"}, 2, "", "--socket needs a value"},
		{[]string{"status", "--yaml"}, 2, "", "status: unknown flag --yaml\n(consolectl help status shows how to use it)"},
		{[]string{"set", "cue/1"}, 2, "", "set takes KEY VALUE, got 1 argument(s)"},
		{[]string{"set", "cue/1", "-3"}, 2, "", "set: unknown flag -3 (an argument that begins with a dash goes after --, as in consolectl set cue/1 -- -3)"},
		{[]string{"--version"}, 0, "consolectl ", ""},
		{[]string{"status", "--version"}, 0, "consolectl ", ""},
		{[]string{"press", "go", "--socket", "/nonexistent"}, 2, "", `unknown button "go"`},
		{[]string{"link", "sideways"}, 2, "", "want up or down"},
		{[]string{"status", "--remote", "10.0.0.2"}, 2, "", "--remote needs --network-key FILE"},
		{[]string{"--remote", "10.0.0.2", "--socket", "/s", "status"}, 2, "", "--socket and --remote name two consoles"},
		{[]string{"status", "--remote", ":7400", "--network-key", "/k"}, 2, "", `--remote: console address ":7400"`},
		{[]string{"status", "--remote", "10.0.0.2", "--network-key", "/nonexistent/key"}, 1, "", "--network-key: reading network key /nonexistent/key: file does not exist"},
		{[]string{"net", "--interval", "1ms"}, 2, "", "net: --interval"},
	} {
		code, out, errs := run(c.args...)
		if code != c.code || !strings.Contains(out, c.stdout) || !strings.Contains(errs, c.stderr) {
			t.Errorf("consolectl %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out, errs, c.code, c.stdout, c.stderr)
		}
	}
	// Every command has a help of its own.
	for _, c := range commands {
		if code, out, _ := run("help", c.name); code != 0 || !strings.Contains(out, "consolectl [--socket PATH] "+c.name) {
			t.Errorf("help %s: %d %q", c.name, code, out)
		}
	}
}

// The exit status follows the error's kind, and the message is one line.
func TestExitStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		want string
	}{
		{nil, 0, ""},
		{&api.Error{Kind: api.KindRefused, Message: "launch refused"}, 3, "consolectl: launch refused\n"},
		{&api.Error{Kind: api.KindOutcomeUnknown, Message: "path broke"}, 4, "consolectl: path broke\n"},
		{fmt.Errorf("wrapped: %w", &api.Error{Kind: api.KindOutcomeUnknown, Message: "x"}), 4, "consolectl: x\n"},
		{&api.Error{Kind: api.KindBadInput, Message: "bad\nkey"}, 1, "consolectl: bad; key\n"},
		{&api.Error{Kind: "a_kind_from_a_newer_console", Message: "m"}, 1, "consolectl: m\n"},
		{&client.DialError{Where: "/s", Err: errors.New("connect: no such file or directory")}, 1,
			"consolectl: cannot reach consoled at /s (is it running? --socket or $CONSOLED_SOCKET name the socket): connect: no such file or directory\n"},
		{&client.DialError{Where: "10.0.0.2:7400", Err: fmt.Errorf("wire: TLS handshake: %w: x509: unknown authority", wire.ErrAuth)}, 1,
			"consolectl: 10.0.0.2:7400 refused the connection: not authenticated (it holds another network key than --network-key): wire: TLS handshake: peer not authenticated (wrong network key?): x509: unknown authority\n"},
		{usagef("set", "set: oops"), 2, "consolectl: set: oops\n(consolectl help set shows how to use it)\n"},
		{flag.ErrHelp, 1, "consolectl: flag: help requested\n"},
	} {
		var errb bytes.Buffer
		if code := fail(&errb, c.err, "is it running? --socket or $CONSOLED_SOCKET name the socket"); code != c.code || errb.String() != c.want {
			t.Errorf("%v: exit %d %q, want %d %q", c.err, code, errb.String(), c.code, c.want)
		}
	}
}
