package wire

import (
	"errors"
	"os"
	"testing"
	"time"
)

// A peer that stops reading fails its writer once the socket buffers are
// full, instead of holding the writer (and the write lock) for good.
func TestWriteTimeoutStopsAWriterToAPeerThatDoesNotRead(t *testing.T) {
	k := testKey(1)
	server, client := tlsPair(t, newTLS(t, k, "desk-1"), newTLS(t, k, "desk-2"))
	if client.writeTimeout != DefaultWriteTimeout || server.writeTimeout != DefaultWriteTimeout {
		t.Fatalf("write timeouts %s and %s, want %s", client.writeTimeout, server.writeTimeout, DefaultWriteTimeout)
	}
	client.SetWriteTimeout(200 * time.Millisecond)
	chunk := make([]byte, MaxChunk)
	done := make(chan error, 1)
	go func() {
		for {
			if err := client.WriteChunk(chunk); err != nil {
				done <- err
				return
			}
			if err := client.Flush(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the writer failed with %v, want a timeout", err)
		}
	case <-time.After(20 * time.Second):
		server.Close()
		t.Fatal("the writer is still blocked on a peer that does not read")
	}
}
