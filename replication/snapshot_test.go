package replication

import (
	"github.com/jonboulle/clockwork"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// newReceiver is an engine "b" on a store in data, with a peer "a" whose
// inbox takes inbox messages, as a copy arrives from it.
func newReceiver(t *testing.T, data string, clock clockwork.Clock, inbox int) (*Engine, *peer) {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(data, store.Options{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &Engine{st: st, log: lg, id: "b", sched: realSched{clock}}
	return e, &peer{e: e, id: "a", done: make(chan struct{}), inbox: make(chan wire.Msg, inbox)}
}

// waitProgress waits until the engine reports bytes of a copy received.
func waitProgress(t *testing.T, e *Engine, bytes int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if c := e.incoming.get(); c != nil && c.Bytes == bytes {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress %+v, want %d bytes received", e.incoming.get(), bytes)
		}
	}
}

// receiveFrom runs receiveSnapshot on msgs, as if they came from a peer.
func receiveFrom(t *testing.T, data string, msgs ...wire.Msg) (string, store.Lineage, error) {
	t.Helper()
	e, p := newReceiver(t, data, clockwork.NewRealClock(), len(msgs))
	for _, m := range msgs {
		p.inbox <- m
	}
	return e.copier().receiveSnapshot(context.Background(), p, "demo")
}

func file(name, data string) []wire.Msg {
	return []wire.Msg{&wire.SnapFile{Name: name, Size: uint64(len(data))}, &wire.SnapChunk{Data: []byte(data)}}
}

func snapshot(end *wire.SnapEnd, files ...[]wire.Msg) []wire.Msg {
	msgs := []wire.Msg{&wire.SnapBegin{Show: "demo", Bytes: 10}}
	for _, f := range files {
		msgs = append(msgs, f...)
	}
	return append(msgs, end)
}

// TestReceiveSnapshotFiles: the copy is the files SnapEnd names. One sent
// early that the sender's store dropped before its checkpoint was complete
// is deleted; one named but never sent, or cut short, fails the copy and
// leaves no directory behind.
func TestReceiveSnapshotFiles(t *testing.T) {
	end := &wire.SnapEnd{ShowID: "s1", Epochs: []wire.Epoch{{ID: "e1", FirstSeq: 1}}, Seq: 7, Files: []string{"000002.sst", "MANIFEST-000001"}}
	dir, lin, err := receiveFrom(t, t.TempDir(), snapshot(end, file("000001.sst", "old"), file("000002.sst", "new"), file("MANIFEST-000001", "m"))...)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if !slices.Equal(names, []string{"000002.sst", "MANIFEST-000001"}) {
		t.Fatalf("copy holds %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "000002.sst")); string(b) != "new" {
		t.Fatalf("000002.sst holds %q", b)
	}
	if lin.ShowID != "s1" || lin.Seq != 7 || len(lin.Epochs) != 1 || lin.Epochs[0].ID != "e1" {
		t.Fatalf("lineage %+v", lin)
	}

	bad := map[string][]wire.Msg{
		"not sent": snapshot(end, file("000002.sst", "new")),
		"cut short": snapshot(end, file("000002.sst", "new"),
			[]wire.Msg{&wire.SnapFile{Name: "MANIFEST-000001", Size: 5}, &wire.SnapChunk{Data: []byte("m")}}),
		"sent twice": snapshot(end, file("000002.sst", "new"), file("000002.sst", "new"), file("MANIFEST-000001", "m")),
		"bad name":   snapshot(end, file("../000002.sst", "new")),
	}
	for what, msgs := range bad {
		data := t.TempDir()
		dir, _, err := receiveFrom(t, data, msgs...)
		if err == nil {
			t.Errorf("%s: accepted", what)
			continue
		}
		if !strings.Contains(err.Error(), "copy") {
			t.Errorf("%s: error %q does not say what was wrong with the copy", what, err)
		}
		if left, _ := os.ReadDir(filepath.Join(data, "shows")); dir != "" || len(left) != 0 {
			t.Errorf("%s: left %q and %v in shows/", what, dir, left)
		}
	}
}

// TestReceiveSnapshotProgress: while a copy arrives, the engine reports
// who sends it, how much of it has come and how much it said it would
// send; once it is in, none.
func TestReceiveSnapshotProgress(t *testing.T) {
	e, p := newReceiver(t, t.TempDir(), clockwork.NewRealClock(), 8)
	if e.incoming.get() != nil {
		t.Fatal("progress reported before any copy")
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := e.copier().receiveSnapshot(context.Background(), p, "demo")
		done <- err
	}()
	p.inbox <- &wire.SnapBegin{Show: "demo", Bytes: 10}
	for _, m := range file("000002.sst", "new") {
		p.inbox <- m
	}
	waitProgress(t, e, 3)
	if c := e.incoming.get(); c.From != "a" || c.Total != 10 || c.Started.IsZero() {
		t.Fatalf("progress %+v, want from a, total 10, a start time", c)
	}
	p.inbox <- &wire.SnapEnd{ShowID: "s1", Epochs: []wire.Epoch{{ID: "e1", FirstSeq: 1}}, Seq: 7, Files: []string{"000002.sst"}}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := e.incoming.get(); c != nil {
		t.Fatalf("progress %+v after the copy was in", c)
	}
}

// TestReceiveSnapshotStalled: a sender that stays connected but stops
// sending mid-copy does not hold the receiver for good. Past copyStall
// without a message the receive ends, says the sender stalled, and leaves
// no partial copy and no progress behind.
func TestReceiveSnapshotStalled(t *testing.T) {
	data := t.TempDir()
	clock := clockwork.NewFakeClock()
	e, p := newReceiver(t, data, clock, 8)
	done := make(chan error, 1)
	go func() {
		_, _, err := e.copier().receiveSnapshot(context.Background(), p, "demo")
		done <- err
	}()
	p.inbox <- &wire.SnapBegin{Show: "demo", Bytes: 10}
	p.inbox <- &wire.SnapFile{Name: "000002.sst", Size: 10}
	p.inbox <- &wire.SnapChunk{Data: []byte("abc")}
	waitProgress(t, e, 3)

	// The receive waits for the next message, on the clock.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal("the receive set no deadline for the next message")
	}
	clock.Advance(copyStall - time.Second)
	select {
	case err := <-done:
		t.Fatalf("the receive ended before the bound: %v", err)
	default:
	}
	clock.Advance(2 * time.Second)
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the receive still waits for a sender silent past copyStall")
	}
	if !errors.Is(err, errStalled) || !strings.HasPrefix(err.Error(), "a stalled") {
		t.Fatalf("error %v, want one naming a as stalled", err)
	}
	if c := e.incoming.get(); c != nil {
		t.Fatalf("progress %+v after the copy was given up", c)
	}
	if left, _ := os.ReadDir(filepath.Join(data, "shows")); len(left) != 0 {
		t.Fatalf("a stalled copy left %v in shows/", left)
	}
}

// TestReadAhead: files of every size come whole and in order, in chunks of
// at most wire.MaxChunk; a show of small files is read into buffers no
// larger than its largest file; a missing optional file is skipped, a
// missing required one ends the read with an error.
func TestReadAhead(t *testing.T) {
	dir := t.TempDir()
	var files []snapFile
	var want [][]byte
	add := func(n int) {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(len(files)*31 + j)
		}
		path := filepath.Join(dir, fmt.Sprint(len(files)))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, snapFile{name: filepath.Base(path), path: path})
		want = append(want, data)
	}
	read := func(files []snapFile) (got [][]byte, largest int, err error) {
		got = make([][]byte, len(files))
		for c := range readAhead(context.Background(), files) {
			if c.err != nil {
				return got, largest, c.err
			}
			if c.data == nil {
				if got[c.file] != nil || c.size != int64(len(want[c.file])) {
					t.Fatalf("file %d starts twice or with size %d (want %d)", c.file, c.size, len(want[c.file]))
				}
				got[c.file] = []byte{}
				continue
			}
			if len(c.data) > wire.MaxChunk {
				t.Fatalf("file %d: a chunk of %d bytes", c.file, len(c.data))
			}
			largest = max(largest, cap(c.data))
			got[c.file] = append(got[c.file], c.data...)
			c.release()
		}
		return got, largest, nil
	}
	check := func(got [][]byte) {
		t.Helper()
		for i := range files {
			if files[i].optional {
				if got[i] != nil {
					t.Fatalf("the missing optional file %d was sent", i)
				}
			} else if !slices.Equal(got[i], want[i]) {
				t.Fatalf("file %d: %d bytes came, want %d", i, len(got[i]), len(want[i]))
			}
		}
	}

	for _, n := range []int{0, 1, 700, 5} {
		add(n)
	}
	files = append(files, snapFile{name: "gone", path: filepath.Join(dir, "gone"), optional: true})
	want = append(want, nil)
	got, largest, err := read(files)
	if err != nil {
		t.Fatal(err)
	}
	check(got)
	if largest > 700 {
		t.Fatalf("files of at most 700 bytes read into a buffer of %d", largest)
	}

	for _, n := range []int{wire.MaxChunk - 1, wire.MaxChunk, 2*wire.MaxChunk + 3, 3} {
		add(n)
	}
	if got, _, err = read(files); err != nil {
		t.Fatal(err)
	}
	check(got)

	files = append(files, snapFile{name: "missing", path: filepath.Join(dir, "missing")})
	want = append(want, nil)
	if _, _, err := read(files); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing required file ended the read with %v", err)
	}
}
