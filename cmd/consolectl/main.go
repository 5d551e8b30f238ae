// Command consolectl controls a running consoled through its control socket.
package main

import (
	"os"

	"consoled/firmware"
)

func main() {
	os.Exit(firmware.RunCtl(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
