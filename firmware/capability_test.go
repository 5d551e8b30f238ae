package firmware

import (
	"net/http"
	"strings"
	"testing"

	"consoled/api"
	"consoled/hal"
	"consoled/hal/mock"
)

// plainBoard is a mock board whose buttons and link hide their
// capabilities, as a hardware board's would.
type plainBoard struct{ *mock.Board }

type plainButton struct{ hal.Button }
type plainLink struct{ hal.Link }

func (b plainBoard) Button(name string) (hal.Button, bool) {
	btn, ok := b.Board.Button(name)
	return plainButton{btn}, ok
}
func (b plainBoard) Link() hal.Link { return plainLink{b.Board.Link()} }

// press and link work on any board with the capability, and are refused
// with a clear message, changing nothing, on one without.
func TestPressAndLinkByCapability(t *testing.T) {
	m := mock.New(mock.Options{})
	ts := startTestService(t, Options{Board: plainBoard{m}})
	for _, c := range []struct{ path, body, want string }{
		{api.PathPress, `{"button":"logoff"}`, "press works on the mock board only"},
		{api.PathLink, `{"up":false}`, "link works on the mock board only"},
	} {
		code, body := ts.post(c.path, c.body)
		if code != http.StatusConflict || !strings.Contains(body, c.want) || !strings.Contains(body, `"kind":"mock_only"`) {
			t.Errorf("%s on a board without the capability: %d %s", c.path, code, body)
		}
	}
	if !m.Link().State().Up {
		t.Error("a refused link down cut the link")
	}

	ts = startTestService(t, Options{Board: mock.New(mock.Options{})})
	if code, body := ts.post(api.PathLink, `{"up":false}`); code != 200 || !strings.Contains(body, `"link":"down"`) {
		t.Errorf("link down on the mock board: %d %s", code, body)
	}
	if code, body := ts.post(api.PathPress, `{"button":"logoff"}`); code != 200 || !strings.Contains(body, `"command":"logoff"`) {
		t.Errorf("press logoff on the mock board: %d %s", code, body)
	}
}
