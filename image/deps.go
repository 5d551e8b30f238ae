//go:build tools

// Package image pins the modules the console images are made of, so that
// go.mod and go.sum hold their versions: gokrazy's init and DHCP client,
// the kernels and the Raspberry Pi firmware. monogok, the builder, is a
// tool of the module (go tool monogok).
package image

import (
	_ "github.com/gokrazy/firmware"
	_ "github.com/gokrazy/gokrazy"
	_ "github.com/gokrazy/gokrazy/cmd/dhcp"
	_ "github.com/gokrazy/gokrazy/cmd/ntp"
	_ "github.com/gokrazy/gokrazy/cmd/randomd"
	_ "github.com/gokrazy/kernel.amd64"
	_ "github.com/gokrazy/kernel.rpi"
)
