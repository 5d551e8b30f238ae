package firmware

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"consoled/replication"
	"consoled/replication/store"
)

// Config is consoled's configuration. Every field is a flag and a key of the
// optional config file (YAML, the flag names as keys); flags given on the
// command line win over the file.
type Config struct {
	ID         string   `yaml:"id"`          // console name, unique on the show network
	Data       string   `yaml:"data"`        // show copies, archives, identity
	Board      string   `yaml:"board"`       // built-in board name or board file path
	Listen     string   `yaml:"listen"`      // peer (replication) address
	Peers      PeerList `yaml:"peers"`       // peer addresses besides discovery
	Control    string   `yaml:"control"`     // control API unix socket; default DATA/consoled.sock
	HTTP       string   `yaml:"http"`        // status page address, or "off"
	NetworkKey string   `yaml:"network-key"` // show network secret; default DATA/network.key
	Master     bool     `yaml:"master"`      // designated master console (rule 5)
	LogFormat  string   `yaml:"log-format"`  // text or json; "" is text
	// MasterGrace is how long a launch that finds no active waits for the
	// master console to launch first (a duration like 10s; 0 does not wait).
	MasterGrace string `yaml:"master-grace"`
	// Heartbeat is how often the console's state goes to every peer; a peer
	// silent three heartbeats is gone (a duration; "" is 100ms). Longer
	// only where consoles run slower than their hardware, as emulated ones.
	Heartbeat string `yaml:"heartbeat"`
	Show      string `yaml:"show"`      // show the LAUNCH button opens when no show was launched before
	LogLevel  string `yaml:"log-level"` // debug, info, warn, error
	Ack       string `yaml:"ack"`       // when an edit is acknowledged: local, one, all
	Discovery string `yaml:"discovery"` // beacon NIC: auto (the board's NIC), off, or an interface name
	// Resume launches again at start the show this console was logged on
	// to when it stopped without logging off (resume.go).
	Resume bool `yaml:"resume"`
	// RemoteControl is on to take consolectl --remote on the peer port,
	// off to refuse it (remote.go).
	RemoteControl string `yaml:"remote-control"`

	// ProtocolVersion overrides the peer protocol version spoken, so tests
	// can run a console that speaks another one. Not for production.
	ProtocolVersion uint `yaml:"protocol-version"`
	// LogRetain is how many of the newest edits a show's edit log keeps for
	// catching backups up (store.Options.LogRetain; 0 is its default).
	// Tests shorten it so that splits outlast it.
	LogRetain uint64 `yaml:"log-retain"`
}

// Defaults returns the configuration used when neither flags nor file say otherwise.
func Defaults() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "console"
	}
	return Config{
		ID:            host,
		Data:          "/var/lib/consoled",
		Board:         "mock",
		Listen:        ":7400",
		HTTP:          "127.0.0.1:7480",
		LogLevel:      "info",
		Ack:           "one",
		Discovery:     "auto",
		MasterGrace:   "10s",
		RemoteControl: "on",
	}
}

// ErrUsage marks errors in how the program was called (exit status 2).
var ErrUsage = errors.New("usage")

// ErrVersion is ParseArgs' answer to --version: print the version and exit.
var ErrVersion = errors.New("version requested")

// ParseArgs reads consoled's command line (without the program name) and the
// config file it names. Errors name the flag, key or file that was wrong.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	cfg := Defaults()
	fs := flag.NewFlagSet("consoled", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile string
		f          Config
		peers      string
	)
	fs.StringVar(&configFile, "config", "", "optional YAML config `file`; its keys are the flag names")
	fs.StringVar(&f.ID, "id", cfg.ID, "console `name`, unique on the show network")
	fs.StringVar(&f.Data, "data", cfg.Data, "`dir` for show copies, archives and identity")
	fs.StringVar(&f.Board, "board", cfg.Board, "built-in board `name` or board file path")
	fs.StringVar(&f.Listen, "listen", cfg.Listen, "peer (replication) `address`")
	fs.StringVar(&peers, "peers", "", "comma-separated peer `addresses` besides discovery")
	fs.StringVar(&f.Control, "control", "", "control API unix socket `path` (default DATA/consoled.sock)")
	fs.StringVar(&f.HTTP, "http", cfg.HTTP, "status page `address`, or off")
	fs.StringVar(&f.NetworkKey, "network-key", "", "show network key `file` (default DATA/network.key)")
	fs.BoolVar(&f.Master, "master", false, "this console is the designated master (rule 5)")
	fs.StringVar(&f.LogFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&f.MasterGrace, "master-grace", cfg.MasterGrace, "how long a launch finding no active waits for the master console to launch first (`duration`; 0 does not wait)")
	fs.StringVar(&f.Heartbeat, "heartbeat", cfg.Heartbeat, "how often the console's state goes to its peers; one silent three heartbeats is gone (`duration`; default 100ms; longer only for emulated consoles)")
	fs.StringVar(&f.Show, "show", "", "`show` the LAUNCH button opens when none was launched before")
	fs.StringVar(&f.LogLevel, "log-level", cfg.LogLevel, "log `level`: debug, info, warn, error")
	fs.StringVar(&f.Ack, "ack", cfg.Ack, "acknowledge an edit once durable on: local (the active), one (and one backup), all (and every backup)")
	fs.StringVar(&f.Discovery, "discovery", cfg.Discovery, "find peers by multicast beacons on: auto (the board's NIC), off, or a `NIC` name")
	fs.BoolVar(&f.Resume, "resume", false, "at start, launch again the show this console was logged on to when it stopped without logging off (never forced)")
	fs.StringVar(&f.RemoteControl, "remote-control", cfg.RemoteControl, "`on` takes consolectl --remote on the peer port (with the network key); off refuses it")
	fs.UintVar(&f.ProtocolVersion, "protocol-version", 0, "peer protocol `version` to speak (testing only)")
	fs.Uint64Var(&f.LogRetain, "log-retain", 0, "`edits` a show's edit log keeps for catching backups up (default 10000)")
	version := fs.Bool("version", false, "print consoled's version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if *version {
		return cfg, ErrVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if configFile != "" {
		if err := loadFile(configFile, &cfg); err != nil {
			return cfg, err
		}
	}
	// Only flags given on the command line override the file.
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id":
			cfg.ID = f.ID
		case "data":
			cfg.Data = f.Data
		case "board":
			cfg.Board = f.Board
		case "listen":
			cfg.Listen = f.Listen
		case "peers":
			cfg.Peers = splitList(peers)
		case "control":
			cfg.Control = f.Control
		case "http":
			cfg.HTTP = f.HTTP
		case "network-key":
			cfg.NetworkKey = f.NetworkKey
		case "master":
			cfg.Master = f.Master
		case "log-format":
			cfg.LogFormat = f.LogFormat
		case "master-grace":
			cfg.MasterGrace = f.MasterGrace
		case "heartbeat":
			cfg.Heartbeat = f.Heartbeat
		case "show":
			cfg.Show = f.Show
		case "log-level":
			cfg.LogLevel = f.LogLevel
		case "ack":
			cfg.Ack = f.Ack
		case "discovery":
			cfg.Discovery = f.Discovery
		case "resume":
			cfg.Resume = f.Resume
		case "remote-control":
			cfg.RemoteControl = f.RemoteControl
		case "protocol-version":
			cfg.ProtocolVersion = f.ProtocolVersion
		case "log-retain":
			cfg.LogRetain = f.LogRetain
		}
	})
	if err := cfg.finish(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// PeerList is a list of peer addresses. In the config file it may be a YAML
// list or the flag's comma-separated string.
type PeerList []string

func (p *PeerList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*p = splitList(n.Value)
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*p = list
	return nil
}

func loadFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %s", path, oneLine(err.Error()))
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// finish fills the defaults that depend on other keys and validates.
func (c *Config) finish() error {
	if c.ID == "" || len(c.ID) > 64 || strings.ContainsFunc(c.ID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: --id %q: want 1 to 64 characters without spaces", ErrUsage, c.ID)
	}
	if c.Data == "" {
		return fmt.Errorf("%w: --data is empty", ErrUsage)
	}
	if c.Board == "" {
		return fmt.Errorf("%w: --board is empty", ErrUsage)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%w: --listen %q: %v", ErrUsage, c.Listen, err)
	}
	for _, p := range c.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return fmt.Errorf("%w: --peers %q: %v", ErrUsage, p, err)
		}
	}
	if c.HTTP != "off" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			return fmt.Errorf("%w: --http %q: want host:port or off", ErrUsage, c.HTTP)
		}
	}
	if c.Show != "" {
		if err := store.ValidateShowName(c.Show); err != nil {
			return fmt.Errorf("%w: --show: %v", ErrUsage, err)
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("%w: --log-level: %v", ErrUsage, err)
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if err := checkLogFormat(c.LogFormat); err != nil {
		return fmt.Errorf("%w: --log-format: %v", ErrUsage, err)
	}
	if _, err := replication.ParseAckMode(c.Ack); err != nil {
		return fmt.Errorf("%w: --ack: %v", ErrUsage, err)
	}
	if d, err := time.ParseDuration(c.MasterGrace); err != nil || d < 0 {
		return fmt.Errorf("%w: --master-grace %q: want a duration like 10s, or 0", ErrUsage, c.MasterGrace)
	}
	if c.Heartbeat != "" {
		if d, err := time.ParseDuration(c.Heartbeat); err != nil || d < 10*time.Millisecond {
			return fmt.Errorf("%w: --heartbeat %q: want a duration of 10ms or more, like 100ms", ErrUsage, c.Heartbeat)
		}
	}
	if c.RemoteControl != "on" && c.RemoteControl != "off" {
		return fmt.Errorf("%w: --remote-control %q: want on or off", ErrUsage, c.RemoteControl)
	}
	if c.ProtocolVersion > 65535 {
		return fmt.Errorf("%w: --protocol-version %d: at most 65535", ErrUsage, c.ProtocolVersion)
	}
	if c.Control == "" {
		c.Control = filepath.Join(c.Data, "consoled.sock")
	}
	if c.NetworkKey == "" {
		c.NetworkKey = filepath.Join(c.Data, "network.key")
	}
	return nil
}
