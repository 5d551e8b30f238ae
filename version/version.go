// Package version says which build a binary is, from the build information
// the Go toolchain embeds: the module version and the VCS revision.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// String is what `PROGRAM --version` prints, e.g.
// "consoled (devel) revision 1a2b3c4d5e6f (modified) 2026-03-14T19:30:00Z go1.26.8".
func String(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("%s (no build information) %s", program, runtime.Version())
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	if rev == "" {
		return fmt.Sprintf("%s %s revision unknown %s", program, v, bi.GoVersion)
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return fmt.Sprintf("%s %s revision %s%s %s %s", program, v, rev, modified, at, bi.GoVersion)
}
