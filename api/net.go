package api

// Net is `consolectl net --json`: every console of the show network, found
// from one console's peers (and theirs), each as it says of itself when it
// could be asked, else as the others see it.
type Net struct {
	Consoles []NetConsole `json:"consoles"`
}

// NetConsole is one console of Net.
type NetConsole struct {
	Console string `json:"console"`
	Address string `json:"address"` // its peer port, which takes consolectl --remote
	Role    string `json:"role"`
	Show    string `json:"show"`
	Seq     uint64 `json:"seq"`
	// Lag is how many edits it is behind its show's active (0 for the
	// active); null when it is off or no active of its show was found.
	Lag    *uint64 `json:"lag"`
	Link   string  `json:"link"` // up, down; "" when it could not be asked
	Faults []Fault `json:"faults"`
	// Error says why it could not be asked (unreachable, remote control
	// off); role, show and seq are then what another console last heard.
	Error string `json:"error,omitempty"`
}
