package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// A full sync ships the show's Pebble files (a checkpoint: hard links to
// the immutable sstables plus a copy of the small mutable files), not its
// objects one by one: the receiver writes plain files and fsyncs them, which
// costs about what copying the bytes costs.

// sendSnapshot streams a checkpoint of sh to p and returns the seq it holds.
func (e *Engine) sendSnapshot(ctx context.Context, p *peer, sh *store.Show) (uint64, error) {
	tmp := filepath.Join(e.st.Dir(), "snapshots")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp(tmp, sh.Name()+"-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	os.Remove(dir) // Checkpoint wants to create it
	t0 := time.Now()
	lin, err := sh.Checkpoint(dir)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	type file struct {
		name string
		size int64
	}
	var files []file
	var total uint64
	for _, en := range entries {
		if !en.Type().IsRegular() {
			continue
		}
		fi, err := en.Info()
		if err != nil {
			return 0, err
		}
		files = append(files, file{en.Name(), fi.Size()})
		total += uint64(fi.Size())
	}
	if err := p.conn.WriteMsg(&wire.SnapBegin{Show: sh.Name(), ShowID: lin.ShowID, Epochs: toWireEpochs(lin.Epochs),
		Seq: lin.Seq, Files: uint32(len(files)), Bytes: total}); err != nil {
		return 0, err
	}
	buf := make([]byte, wire.MaxChunk)
	for _, f := range files {
		if err := p.conn.WriteMsg(&wire.SnapFile{Name: f.name, Size: uint64(f.size)}); err != nil {
			return 0, err
		}
		fd, err := os.Open(filepath.Join(dir, f.name))
		if err != nil {
			return 0, err
		}
		left := f.size
		for left > 0 {
			if ctx.Err() != nil {
				fd.Close()
				return 0, ctx.Err()
			}
			n, err := io.ReadFull(fd, buf[:min(int64(len(buf)), left)])
			if err != nil {
				fd.Close()
				return 0, fmt.Errorf("reading %s: %w", f.name, err)
			}
			if err := p.conn.WriteMsg(&wire.SnapChunk{Data: buf[:n]}); err != nil {
				fd.Close()
				return 0, err
			}
			left -= int64(n)
		}
		fd.Close()
	}
	// The transport is authenticated encryption and Pebble checksums every
	// block it reads, so the end marker carries no digest of its own.
	if err := p.conn.Send(&wire.SnapEnd{}); err != nil {
		return 0, err
	}
	e.log.Info("sent full copy", "peer", p.id, "show", sh.Name(), "seq", lin.Seq, "files", len(files),
		"bytes", total, "took", time.Since(t0).Round(time.Millisecond))
	return lin.Seq, nil
}

// receiveSnapshot writes the files of a snapshot into a fresh incoming
// directory of the store and returns it with the lineage it holds. The
// caller installs it. On error the directory is gone.
func (e *Engine) receiveSnapshot(ctx context.Context, p *peer, show string) (dir string, lin store.Lineage, err error) {
	next := func() (wire.Msg, error) {
		select {
		case m := <-p.inbox:
			return m, nil
		case <-p.done:
			return nil, fmt.Errorf("connection to %s lost during the transfer", p.id)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m, err := next()
	if err != nil {
		return "", lin, err
	}
	begin, ok := m.(*wire.SnapBegin)
	if !ok || begin.Show != show {
		return "", lin, fmt.Errorf("expected the start of a copy of %s, got %s", show, m.Type())
	}
	lin = store.Lineage{ShowID: begin.ShowID, Epochs: fromWireEpochs(begin.Epochs), Seq: begin.Seq}
	dir, err = e.st.IncomingDir(show)
	if err != nil {
		return "", lin, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", lin, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if free, ferr := freeBytes(dir); ferr == nil && free < begin.Bytes+64<<20 {
		return "", lin, fmt.Errorf("%w: the copy needs %d MiB, %d MiB free", store.ErrDiskFull, begin.Bytes>>20, free>>20)
	}
	t0 := time.Now()
	var got uint64
	var f *os.File
	var left uint64
	closeFile := func() error {
		if f == nil {
			return nil
		}
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		f = nil
		return err
	}
	defer closeFile()
	for files := uint32(0); ; {
		m, err := next()
		if err != nil {
			return "", lin, err
		}
		switch m := m.(type) {
		case *wire.SnapFile:
			if left != 0 {
				return "", lin, fmt.Errorf("copy: file ended %d bytes early", left)
			}
			if err := closeFile(); err != nil {
				return "", lin, err
			}
			if !filepath.IsLocal(m.Name) || filepath.Base(m.Name) != m.Name {
				return "", lin, fmt.Errorf("copy: refusing file name %q", m.Name)
			}
			if files++; files > begin.Files {
				return "", lin, fmt.Errorf("copy: more files than the %d announced", begin.Files)
			}
			if f, err = os.OpenFile(filepath.Join(dir, m.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640); err != nil {
				return "", lin, err
			}
			left = m.Size
		case *wire.SnapChunk:
			if f == nil || uint64(len(m.Data)) > left {
				return "", lin, errors.New("copy: data outside a file")
			}
			if _, err := f.Write(m.Data); err != nil {
				return "", lin, err
			}
			left -= uint64(len(m.Data))
			got += uint64(len(m.Data))
		case *wire.SnapEnd:
			if left != 0 || files != begin.Files || got != begin.Bytes {
				return "", lin, fmt.Errorf("copy incomplete: %d of %d files, %d of %d bytes", files, begin.Files, got, begin.Bytes)
			}
			if err := closeFile(); err != nil {
				return "", lin, err
			}
			e.log.Info("received full copy", "peer", p.id, "show", show, "seq", lin.Seq, "bytes", got,
				"took", time.Since(t0).Round(time.Millisecond))
			return dir, lin, nil
		default:
			return "", lin, fmt.Errorf("copy: unexpected %s", m.Type())
		}
	}
}
