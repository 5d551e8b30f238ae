package api

import "testing"

// Every kind's HTTP status and exit status, as the README's table has them.
func TestKindStatuses(t *testing.T) {
	for _, c := range []struct {
		kind         Kind
		status, exit int
	}{
		{KindBadInput, 400, ExitError},
		{KindNotFound, 404, ExitError},
		{KindForbidden, 403, ExitError},
		{KindRefused, 409, ExitRefused},
		{KindMockOnly, 409, ExitError},
		{KindNotLoggedOn, 412, ExitError},
		{KindNoActive, 503, ExitError},
		{KindUnavailable, 503, ExitError},
		{KindOutcomeUnknown, 504, ExitOutcomeUnknown},
		{KindDiskFull, 507, ExitError},
		{KindInternal, 500, ExitError},
	} {
		if s, e := c.kind.Status(), c.kind.ExitCode(); s != c.status || e != c.exit {
			t.Errorf("%s: status %d exit %d, want %d %d", c.kind, s, e, c.status, c.exit)
		}
	}
}
