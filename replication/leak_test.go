package replication

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine an engine starts is owned: Close (or a simulated crash)
// waits for them all, so none is left when the tests are done.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
