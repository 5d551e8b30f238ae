package api

import "net/http"

// consolectl's exit statuses (the Contract).
const (
	ExitOK             = 0
	ExitError          = 1 // the request failed; the message says why
	ExitUsage          = 2 // consolectl was called wrongly
	ExitRefused        = 3 // a guard refused it (a stale copy, a second show)
	ExitOutcomeUnknown = 4 // an edit left, and its path broke before the answer came: retrying is safe
)

// Kind says what kind of failure an error answer is.
type Kind string

// The kinds of error answer, each with the HTTP status it is sent with.
const (
	KindBadInput       Kind = "bad_input"       // 400: the request is malformed or names something invalid
	KindNotFound       Kind = "not_found"       // 404: no such object
	KindRefused        Kind = "refused"         // 409: a guard refused it (exit 3)
	KindMockOnly       Kind = "mock_only"       // 409: the board cannot do it from software (press, link)
	KindForbidden      Kind = "forbidden"       // 403: the console refuses remote control (--remote-control off)
	KindNotLoggedOn    Kind = "not_logged_on"   // 412: the console is not logged on to a show
	KindNoActive       Kind = "no_active"       // 503: no active server reachable for the show
	KindUnavailable    Kind = "unavailable"     // 503: the console is stopping, or has too many connections
	KindOutcomeUnknown Kind = "outcome_unknown" // 504: the edit left for the active and the path broke before its answer (exit 4)
	KindDiskFull       Kind = "disk_full"       // 507: the disk is full
	KindInternal       Kind = "internal"        // 500: anything else
)

// Status is the HTTP status an answer of kind k is sent with.
func (k Kind) Status() int {
	switch k {
	case KindBadInput:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindForbidden:
		return http.StatusForbidden
	case KindRefused, KindMockOnly:
		return http.StatusConflict
	case KindNotLoggedOn:
		return http.StatusPreconditionFailed
	case KindNoActive, KindUnavailable:
		return http.StatusServiceUnavailable
	case KindOutcomeUnknown:
		return http.StatusGatewayTimeout
	case KindDiskFull:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// ExitCode is consolectl's exit status for an answer of kind k.
func (k Kind) ExitCode() int {
	switch k {
	case KindRefused:
		return ExitRefused
	case KindOutcomeUnknown:
		return ExitOutcomeUnknown
	}
	return ExitError
}

// ErrorAnswer is the body of every error answer.
type ErrorAnswer struct {
	Error string `json:"error"`
	Kind  Kind   `json:"kind"`
}

// Error is an error answer as a Go error: what the console said, and the
// kind of failure.
type Error struct {
	Status  int // the HTTP status; 0 for an answer on the edit stream
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }
