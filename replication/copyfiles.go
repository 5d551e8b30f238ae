package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"consoled/replication/wire"
)

// A copyWriter writes the files of an incoming full copy. The chunks go to
// disk with direct I/O (O_DIRECT) where the file system allows it, from the
// chunk buffers themselves, by a few writers at once, while the next chunks
// arrive; each finished file is fsynced and closed in the background.
//
// Direct I/O because the page cache is what made a buffered receiver slow:
// writing 119 MB into pages the kernel has to find fresh costs 300–400 ms of
// CPU on this VM (the host backs the guest's free memory lazily), against
// ~30 ms into recycled ones; the receiver was the full sync's bottleneck.
// With O_DIRECT the device reads the chunk buffers, which are reused. The
// files are read back through the page cache once the copy is installed.
//
// A chunk that does not fit direct I/O's alignment (every one the sender
// makes does: 1 MiB pieces and a last one, padded here and cut back by a
// truncate before the fsync) turns the file back to buffered writes.
type copyWriter struct {
	jobs    chan writeJob
	files   chan *copyFile // written (or being written) files, to be synced and closed
	workers sync.WaitGroup
	syncers sync.WaitGroup
	discard atomic.Bool // the copy is abandoned: close files without syncing them
	cur     *copyFile   // the file being written
	closed  bool

	mu  sync.Mutex
	err error // the first error
}

// A copyFile is one file of the copy being written.
type copyFile struct {
	f       *os.File
	size    int64 // as the sender announced it
	off     int64 // where the next chunk goes
	direct  bool  // opened with O_DIRECT and still written that way
	padded  bool  // the last chunk was padded: truncate to size
	pending sync.WaitGroup
}

type writeJob struct {
	cf    *copyFile
	chunk *wire.SnapChunk
	data  []byte // chunk.Data, padded when direct
	off   int64
}

const (
	copyWriters = 4 // chunk writes in flight
	copySyncers = 4 // fsyncs in flight
	dioAlign    = 4096
)

func newCopyWriter() *copyWriter {
	w := &copyWriter{jobs: make(chan writeJob, 8), files: make(chan *copyFile, 64)}
	for range copyWriters {
		w.workers.Go(func() {
			for j := range w.jobs {
				if w.failed() == nil {
					_, err := j.cf.f.WriteAt(j.data, j.off)
					if errors.Is(err, unix.EINVAL) && clearDirect(j.cf.f) == nil {
						// Direct I/O refused after all: the file goes on
						// buffered (writes in flight beside it may be either).
						_, err = j.cf.f.WriteAt(j.data, j.off)
					}
					if err != nil {
						w.fail(writeErr(j.cf.f.Name(), err))
					}
				}
				wire.ReleaseChunk(j.chunk)
				j.cf.pending.Done()
			}
		})
	}
	// The fsyncs run side by side because each mostly waits, for a journal
	// commit and a device flush that concurrent fsyncs share; each waits for
	// its file's writes first.
	for range copySyncers {
		w.syncers.Go(func() {
			for cf := range w.files {
				w.syncFile(cf)
			}
		})
	}
	return w
}

// writeErr names the file of the copy that err met.
func writeErr(path string, err error) error {
	return fmt.Errorf("copy: writing %s: %w", filepath.Base(path), err)
}

func (w *copyWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *copyWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// create starts a new file of size bytes at path, which must not exist. The
// file before it is complete.
func (w *copyWriter) create(path string, size int64) error {
	w.endFile()
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	direct := true
	f, err := os.OpenFile(path, flags|unix.O_DIRECT, 0o640)
	if errors.Is(err, unix.EINVAL) { // a file system without direct I/O (tmpfs)
		direct = false
		f, err = os.OpenFile(path, flags, 0o640)
	}
	if err != nil {
		return err
	}
	if direct && !fitsDirect(f) {
		if err := clearDirect(f); err != nil {
			f.Close()
			return writeErr(path, err)
		}
		direct = false
	}
	w.cur = &copyFile{f: f, size: size, direct: direct}
	return nil
}

// fitsDirect reports whether the file system says direct I/O on f works
// with buffers and offsets aligned to dioAlign. Without an answer (an older
// kernel, a file system that does not say), the file is written buffered.
func fitsDirect(f *os.File) bool {
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st); err != nil || st.Mask&unix.STATX_DIOALIGN == 0 {
		return false
	}
	fits := func(a uint32) bool { return a != 0 && a <= dioAlign && dioAlign%a == 0 }
	return fits(st.Dio_mem_align) && fits(st.Dio_offset_align)
}

// clearDirect turns f to buffered writes.
func clearDirect(f *os.File) error {
	fd := f.Fd()
	flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(fd, unix.F_SETFL, flags&^unix.O_DIRECT)
	}
	return err
}

// write queues the chunk's bytes after the current file's previous ones and
// takes the chunk over: it is released once written. It returns the first
// error any write or sync met so far.
func (w *copyWriter) write(m *wire.SnapChunk) error {
	if err := w.failed(); err != nil {
		wire.ReleaseChunk(m)
		return err
	}
	cf := w.cur
	data := m.Data
	if cf.direct {
		if padded, ok := alignForDirect(data, cf.off, cf.off+int64(len(data)) == cf.size); ok {
			cf.padded = len(padded) != len(data)
			data = padded
		} else if err := cf.buffered(); err != nil {
			wire.ReleaseChunk(m)
			return err
		}
	}
	off := cf.off
	cf.off += int64(len(m.Data)) // before the chunk goes: the writer releases it
	cf.pending.Add(1)
	w.jobs <- writeJob{cf: cf, chunk: m, data: data, off: off}
	return nil
}

// alignForDirect returns data as direct I/O at offset off can write it: as
// it is when its address, length and offset are aligned; the last chunk of a
// file padded with zeros to the alignment when its buffer has room.
func alignForDirect(data []byte, off int64, last bool) ([]byte, bool) {
	if len(data) == 0 || off%dioAlign != 0 || uintptr(unsafe.Pointer(&data[0]))%dioAlign != 0 {
		return nil, false
	}
	if len(data)%dioAlign == 0 {
		return data, true
	}
	n := (len(data) + dioAlign - 1) &^ (dioAlign - 1)
	if !last || cap(data) < n {
		return nil, false
	}
	padded := data[:n]
	clear(padded[len(data):])
	return padded, true
}

// buffered turns the file to buffered writes for the rest of it, once the
// direct writes in flight are done.
func (cf *copyFile) buffered() error {
	cf.pending.Wait()
	if err := clearDirect(cf.f); err != nil {
		return writeErr(cf.f.Name(), err)
	}
	cf.direct = false
	return nil
}

// endFile hands the current file, if any, to the syncers.
func (w *copyWriter) endFile() {
	if w.cur != nil {
		w.files <- w.cur
		w.cur = nil
	}
}

// finish ends the current file, waits until every write and sync is done,
// and returns the first error. Later calls return the same.
func (w *copyWriter) finish() error {
	if !w.closed {
		w.closed = true
		w.endFile()
		close(w.jobs)
		w.workers.Wait()
		close(w.files)
		w.syncers.Wait()
	}
	return w.failed()
}

// syncFile makes the file durable, unless the copy is abandoned or failed,
// and closes it.
func (w *copyWriter) syncFile(cf *copyFile) {
	cf.pending.Wait()
	var err error
	if !w.discard.Load() && w.failed() == nil {
		if cf.padded {
			err = cf.f.Truncate(cf.size)
		}
		if err == nil {
			err = cf.f.Sync()
		}
	}
	if cerr := cf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		w.fail(writeErr(cf.f.Name(), err))
	}
}

// abandon finishes without syncing what is left: the copy is to be deleted.
func (w *copyWriter) abandon() {
	w.discard.Store(true)
	w.finish()
}
