package client

import "testing"

func TestRemoteAddr(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"desk-2", "desk-2:7400", ""},
		{"10.0.0.2", "10.0.0.2:7400", ""},
		{"10.0.0.2:7402", "10.0.0.2:7402", ""},
		{"fe80::1", "[fe80::1]:7400", ""},
		{"[fe80::1]", "[fe80::1]:7400", ""},
		{"[fe80::1]:7402", "[fe80::1]:7402", ""},
		{"", "", "no console address"},
		{":7400", "", `console address ":7400": want HOST or HOST:PORT`},
		{"desk-2:", "", `console address "desk-2:": want HOST or HOST:PORT`},
	} {
		got, err := RemoteAddr(c.in)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && err.Error() != c.err {
			t.Errorf("RemoteAddr(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}
