// Command configcheck checks, on the machine that flashes a console, the
// config.yaml the console's consoled will read from /perm: the same parser
// and checks as consoled, with the flags the image starts it with. A file
// consoled would refuse would otherwise only show as a console that keeps
// restarting.
//
//	go run ./image/configcheck FILE
package main

import (
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"consoled/firmware"
)

// The flags the image gives consoled (image/*/config.json): they win over
// the file's keys of the same name.
var imageFlags = []string{"--data=/perm/consoled", "--network-key=/perm/consoled/network.key", "--board=mock"}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: configcheck FILE")
		os.Exit(2)
	}
	file := os.Args[1]
	cfg, err := firmware.ParseArgs(append([]string{"--config", file}, imageFlags...), io.Discard)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
		os.Exit(1)
	}
	var keys map[string]any
	if b, err := os.ReadFile(file); err == nil && yaml.Unmarshal(b, &keys) == nil {
		for _, k := range []string{"data", "network-key", "board"} {
			if _, ok := keys[k]; ok {
				fmt.Fprintf(os.Stderr, "%s: warning: %s is set by the image; the file's %s is not used\n", file, k, k)
			}
		}
		if _, ok := keys["id"]; !ok {
			fmt.Fprintf(os.Stderr, "%s: warning: no id: the console is named after the image's hostname (%s), like every other console without one\n", file, cfg.ID)
		}
		if _, ok := keys["http"]; !ok {
			fmt.Fprintf(os.Stderr, "%s: warning: no http: the status page listens on 127.0.0.1 only, out of reach from the network\n", file)
		}
	}
}
