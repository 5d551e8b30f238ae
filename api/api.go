// Package api is the control API's contract: the requests a console takes
// on its control socket, its answers, the kinds of error it gives and the
// exit statuses consolectl maps them to. It imports nothing from the engine,
// the store or the HAL: the service maps its own types into these, so a
// change inside the service cannot change the wire by accident. The golden
// files in testdata pin the JSON of every request and answer.
//
// Every request is HTTP/1.1 with JSON bodies, one object each. Edits also
// have a binary stream (see stream.go) that a connection upgrades to.
package api

// The endpoints. GET ones take no body; POST ones take the request named.
const (
	PathStatus     = "/v1/status"      // GET: Status
	PathPanel      = "/v1/panel"       // GET: Panel
	PathLaunch     = "/v1/launch"      // POST LaunchRequest: Status
	PathLogoff     = "/v1/logoff"      // POST {}: Status
	PathEdit       = "/v1/edit"        // POST EditRequest: EditAnswer
	PathEditStream = "/v1/edit-stream" // POST with Upgrade: StreamProtocol (see stream.go)
	PathObject     = "/v1/object"      // GET ?key=KEY: Object
	PathDump       = "/v1/dump"        // GET: Dump, streamed
	PathArchives   = "/v1/archives"    // GET: []Archive
	PathAck        = "/v1/ack"         // POST {}: AckAnswer
	PathRestore    = "/v1/restore"     // POST RestoreRequest: RestoreAnswer
	PathNetworkKey = "/v1/network-key" // GET: NetworkKey
	PathPress      = "/v1/press"       // POST PressRequest: PressAnswer
	PathLink       = "/v1/link"        // POST LinkRequest: Status
)

// The front panel's buttons and LEDs, in panel order (the Contract's names).
var (
	Buttons = []string{"launch", "logoff"}
	LEDs    = []string{"active", "backup", "sync", "link", "fault"}
)

// The LED states of Panel and Status.LEDs.
const (
	LEDOff   = "off"
	LEDOn    = "on"
	LEDBlink = "blink"
)

// Limits of an edit (the store's; the service checks they agree).
const (
	MaxKeyLen   = 256     // bytes of a key
	MaxValueLen = 1 << 20 // bytes of a value
)
