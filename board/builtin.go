package board

import (
	_ "embed"
	"sort"
)

//go:embed rpi.yaml
var rpiYAML []byte

// builtin holds the built-in board files by name. They are parsed like any
// board file, so the same validation covers them.
var builtin = map[string][]byte{
	"rpi": rpiYAML,
}

// Names lists the specs Open knows by name, for usage texts.
func Names() []string {
	names := []string{"mock", "mock,nic=IFNAME"}
	var b []string
	for n := range builtin {
		b = append(b, n)
	}
	sort.Strings(b)
	return append(names, b...)
}
