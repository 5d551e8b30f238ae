// Command consolectl controls a running consoled through its control socket.
// See README.md for the commands.
package main

import (
	"os"

	"consoled/ctl"
)

func main() {
	os.Exit(ctl.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
