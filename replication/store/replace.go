package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// A full sync replaces a copy without ever leaving less than one complete
// copy on disk:
//
//	DIR/shows/.incoming-<name>-<hex>/  being received; removed at Open
//	DIR/shows/.ready-<name>-<hex>/     received, synced and checked
//	DIR/shows/<name>/                  the live copy
//	DIR/archives/<name>-<time>-<hex>/  kept copies (never deleted by the store)
//
// Install renames the live copy away (to the archives, or aside to be
// deleted when nothing is lost by it), then renames the ready copy in. A
// crash between the two leaves no live copy but a ready one, which Open puts
// in place; a crash earlier leaves the old copy live and the ready one is
// dropped (the next join sends it again).

const (
	incomingPrefix = ".incoming-"
	readyPrefix    = ".ready-"
	oldPrefix      = ".old-"
	archiveMeta    = "ARCHIVE.json"
)

// Checkpoint writes a consistent copy of the show into dir (which must not
// exist) and returns the lineage it holds. Files are hard links where the
// file system allows, so it is cheap and takes little space.
//
// Everything is flushed to sstables first and the checkpoint holds no WAL:
// the WAL would repeat every recent edit (object and log entry, unsorted and
// uncompressed), be up to a whole recycled 4 MiB file, and make the
// receiver's first open replay it and flush it, an open that then also waits
// for the compactions that flush sets off.
func (sh *Show) Checkpoint(dir string) (Lineage, error) { return sh.checkpoint(dir, true) }

// CheckpointToSend is Checkpoint for a copy that is read back at once and
// then deleted, as a full sync's is: nothing in dir is made durable. Pebble
// fsyncs every file and directory it writes for a checkpoint, half a dozen
// fsyncs for a copy whose durability nobody needs; on a busy disk they were
// most of the time a checkpoint took. A crash leaves a directory to delete,
// as it does with Checkpoint.
func (sh *Show) CheckpointToSend(dir string) (Lineage, error) { return sh.checkpoint(dir, false) }

// TableFile is one sstable of a show as it is on disk.
type TableFile struct {
	Name string // as in the show's directory and in any checkpoint of it
	Path string
	Size int64
}

// LiveTables lists the sstables of the show's current version, the bottom
// level first. An sstable never changes: a checkpoint taken later holds each
// one still in use under the same name with the same bytes. One a
// compaction dropped meanwhile is missing from the checkpoint, and soon from
// the directory. The upper levels come last because compactions take their
// files first: after a burst of edits, by the time a sender gets to them
// the compaction under way may have replaced them.
func (sh *Show) LiveTables() ([]TableFile, error) {
	if err := sh.enter(); err != nil {
		return nil, err
	}
	defer sh.leave()
	if sh.placeholder {
		return nil, nil
	}
	levels, err := sh.db.SSTables()
	if err != nil {
		return nil, fmt.Errorf("store: show %s: list sstables: %w", sh.name, err)
	}
	dir := sh.st.showDir(sh.name)
	seen := make(map[uint64]bool)
	var out []TableFile
	for l := len(levels) - 1; l >= 0; l-- {
		for _, t := range levels[l] {
			num := uint64(t.BackingSSTNum)
			if seen[num] {
				continue // virtual tables share their backing file
			}
			seen[num] = true
			name := fmt.Sprintf("%06d.sst", num)
			out = append(out, TableFile{Name: name, Path: filepath.Join(dir, name), Size: int64(t.Size)})
		}
	}
	return out, nil
}

func (sh *Show) checkpoint(dir string, durable bool) (Lineage, error) {
	if err := sh.enter(); err != nil {
		return Lineage{}, err
	}
	defer sh.leave()
	// The bulk of the memtable is flushed without holding up edits...
	if err := sh.db.Flush(); err != nil {
		return Lineage{}, fmt.Errorf("store: show %s: flush before checkpoint: %w", sh.name, err)
	}
	// ...and under the write lock only what landed meanwhile. Every write
	// to the DB takes the write lock, so from here on the sstables hold the
	// whole show and the lineage read is exactly theirs.
	sh.wmu.Lock()
	defer sh.wmu.Unlock()
	if err := sh.db.Flush(); err != nil {
		return Lineage{}, fmt.Errorf("store: show %s: flush before checkpoint: %w", sh.name, err)
	}
	undo := pebbleFS.checkpointing(dir, durable)
	err := sh.db.Checkpoint(dir)
	undo()
	if err != nil {
		return Lineage{}, fmt.Errorf("store: show %s: checkpoint: %w", sh.name, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Lineage{}, fmt.Errorf("store: show %s: checkpoint: %w", sh.name, err)
	}
	for _, e := range entries {
		// Copies (not links) of WALs whose content is all in the sstables.
		if strings.HasSuffix(e.Name(), ".log") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return Lineage{}, fmt.Errorf("store: show %s: checkpoint: %w", sh.name, err)
			}
		}
	}
	return sh.Lineage(), nil
}

// pebbleFS is the file system of every show's Pebble DB: the default one,
// except for a checkpoint in progress. Its WAL copies are not written:
// Pebble copies and fsyncs the live WALs into a checkpoint, but ours is
// flushed just before, so they hold nothing the sstables do not, and
// Checkpoint deletes them. Writing them was not free: Pebble recycles WAL
// files and a recycled one keeps the old file's length, so the copy was a
// memtable's worth (4 MiB) of stale bytes on every full sync. (Turning
// recycling off instead costs the edit path: a WAL that grows costs a
// journal commit per fsync.) For CheckpointToSend nothing in the checkpoint
// directory, nor the directory or its parent, is fsynced either.
var pebbleFS = &checkpointFS{FS: vfs.Default, dirs: make(map[string]*ckptDir)}

type checkpointFS struct {
	vfs.FS
	mu   sync.Mutex
	dirs map[string]*ckptDir // checkpoint directories in progress
}

type ckptDir struct {
	n       int  // checkpoints into it in progress
	durable bool // false: no fsyncs
}

// checkpointing applies the rules above to dir until undo.
func (fs *checkpointFS) checkpointing(dir string, durable bool) (undo func()) {
	dir = filepath.Clean(dir)
	fs.mu.Lock()
	d := fs.dirs[dir]
	if d == nil {
		d = &ckptDir{durable: durable}
		fs.dirs[dir] = d
	}
	d.n++
	d.durable = d.durable || durable
	fs.mu.Unlock()
	return func() {
		fs.mu.Lock()
		if d.n--; d.n == 0 {
			delete(fs.dirs, dir)
		}
		fs.mu.Unlock()
	}
}

// lookup returns the checkpoint in progress in dir, or nil.
func (fs *checkpointFS) lookup(dir string) *ckptDir {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.dirs[dir]
}

// unsynced reports whether dir is, or is the parent of, the directory of a
// CheckpointToSend in progress.
func (fs *checkpointFS) unsynced(dir string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for d, c := range fs.dirs {
		if !c.durable && (d == dir || filepath.Dir(d) == dir) {
			return true
		}
	}
	return false
}

func (fs *checkpointFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil {
		return f, err
	}
	c := fs.lookup(filepath.Dir(filepath.Clean(name)))
	switch {
	case c == nil:
		return f, nil
	case strings.HasSuffix(name, ".log"):
		return emptyFile{f}, nil
	case !c.durable:
		return unsyncedFile{f}, nil
	}
	return f, nil
}

func (fs *checkpointFS) OpenDir(name string) (vfs.File, error) {
	f, err := fs.FS.OpenDir(name)
	if err == nil && fs.unsynced(filepath.Clean(name)) {
		return unsyncedFile{f}, nil
	}
	return f, err
}

// unsyncedFile is a file whose syncs do nothing.
type unsyncedFile struct{ vfs.File }

func (unsyncedFile) Sync() error                             { return nil }
func (unsyncedFile) SyncData() error                         { return nil }
func (unsyncedFile) SyncTo(int64) (fullSync bool, err error) { return true, nil }

// emptyFile takes writes and syncs and keeps nothing.
type emptyFile struct{ vfs.File }

func (emptyFile) Write(p []byte) (int, error)             { return len(p), nil }
func (emptyFile) WriteAt(p []byte, _ int64) (int, error)  { return len(p), nil }
func (emptyFile) ReadFrom(r io.Reader) (int64, error)     { return 0, nil }
func (emptyFile) Preallocate(_, _ int64) error            { return nil }
func (emptyFile) Sync() error                             { return nil }
func (emptyFile) SyncData() error                         { return nil }
func (emptyFile) SyncTo(int64) (fullSync bool, err error) { return true, nil }

// IncomingDir returns a fresh directory path for receiving a copy of show
// name. The caller creates and fills it, then calls Install.
func (s *Store) IncomingDir(name string) (string, error) {
	if err := ValidateShowName(name); err != nil {
		return "", err
	}
	return s.showDir(incomingPrefix + name + "-" + s.randomHex(4)), nil
}

// Archive describes a kept copy.
type Archive struct {
	Name    string    `json:"name"`    // directory name under DIR/archives
	Show    string    `json:"show"`    // the show it was a copy of
	ShowID  string    `json:"show_id"` //
	Seq     uint64    `json:"seq"`     // edits it holds
	Epochs  []Epoch   `json:"epochs"`  //
	Console string    `json:"console"` // the console it was kept on
	Time    time.Time `json:"time"`    // when it was kept
	Why     string    `json:"why"`     // why it was replaced
}

// InstallOptions say what happens to the copy being replaced.
type InstallOptions struct {
	// Archive keeps the current copy as an archive. Leave it false only when
	// the current copy is a strict prefix of the incoming one (nothing in it
	// is missing from the new copy).
	Archive bool
	Why     string // recorded in the archive
	Console string // recorded in the archive
}

// Install makes the complete copy in dir (from IncomingDir, every file
// synced) the live copy of show name, and returns the archive the old copy
// went to (zero when it was not archived). The show must not be open.
func (s *Store) Install(name, dir string, o InstallOptions) (kept Archive, err error) {
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			err = fmt.Errorf("store: install show %s: %w", name, err)
		}
	}()
	if err := s.enter(); err != nil {
		return kept, err
	}
	defer s.leave()
	if filepath.Dir(dir) != filepath.Join(s.dir, "shows") || !strings.HasPrefix(filepath.Base(dir), incomingPrefix+name+"-") {
		return kept, fmt.Errorf("%s is not an incoming directory of this store", dir)
	}
	s.mu.Lock()
	open := s.shows[name] != nil
	s.mu.Unlock()
	if open {
		return kept, errors.New("the show is open; close it first")
	}
	// Check the copy is a whole show before anything moves. Read-only: the
	// check must not write (a writable open replays and flushes the WAL,
	// which the real open after the switch does anyway).
	vo := s.pebbleOptions(name, true)
	vo.ReadOnly = true
	db, err := pebble.Open(dir, vo)
	if err != nil {
		return kept, fmt.Errorf("incoming copy: %w", err)
	}
	lin, err := loadLineage(db)
	if err == nil {
		err = requireFormat(db)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return kept, fmt.Errorf("incoming copy: %w", err)
	}
	// The files are synced already (the caller's part: receiving writes
	// and syncs each while the next arrives, and a Pebble checkpoint syncs
	// what it writes); syncing them again costs a device flush each. What
	// must still be made durable before the rename is their names.
	if err := syncDir(dir); err != nil {
		return kept, err
	}
	ready := s.showDir(readyPrefix + name + "-" + s.randomHex(4))
	if err := os.Rename(dir, ready); err != nil {
		return kept, err
	}
	showsDir := filepath.Join(s.dir, "shows")
	if err := syncDir(showsDir); err != nil {
		return kept, err
	}
	live := s.showDir(name)
	if _, err := os.Stat(live); err == nil {
		if o.Archive {
			if kept, err = s.archive(name, live, o.Why, o.Console); err != nil {
				os.RemoveAll(ready)
				return kept, err
			}
		} else {
			old := s.showDir(oldPrefix + name + "-" + s.randomHex(4))
			if err := os.Rename(live, old); err != nil {
				os.RemoveAll(ready)
				return kept, err
			}
			defer os.RemoveAll(old)
		}
	}
	if err := os.Rename(ready, live); err != nil {
		return kept, err
	}
	if err := syncDir(showsDir); err != nil {
		return kept, err
	}
	s.clearDamage(name)
	s.log.Info("store: installed a new copy", "show", name, "seq", lin.Seq, "archived_old", o.Archive)
	return kept, nil
}

// archive moves the copy at dir into DIR/archives with its description.
func (s *Store) archive(name, dir, why, console string) (Archive, error) {
	a := Archive{Show: name, Console: console, Time: s.opts.Now().UTC(), Why: why}
	// Read-only: the copy is kept as it is (it may be a damaged one).
	o := s.pebbleOptions(name, true)
	o.ReadOnly = true
	if db, err := pebble.Open(dir, o); err == nil {
		if lin, err := loadLineage(db); err == nil {
			a.ShowID, a.Seq, a.Epochs = lin.ShowID, lin.Seq, lin.Epochs
		}
		db.Close()
	}
	archDir := filepath.Join(s.dir, "archives")
	if err := os.MkdirAll(archDir, 0o750); err != nil {
		return a, err
	}
	a.Name = fmt.Sprintf("%s-%s-%s", name, a.Time.Format("20060102T150405Z"), s.randomHex(2))
	meta, _ := json.MarshalIndent(a, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, archiveMeta), meta, 0o640); err != nil {
		return a, err
	}
	if err := os.Rename(dir, filepath.Join(archDir, a.Name)); err != nil {
		return a, err
	}
	if err := syncDir(archDir); err != nil {
		return a, err
	}
	s.log.Warn("store: kept the old copy as an archive", "show", name, "archive", a.Name, "seq", a.Seq, "why", why)
	return a, nil
}

// Archives lists the kept copies, oldest first.
func (s *Store) Archives() ([]Archive, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "archives"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list archives: %w", err)
	}
	var out []Archive
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.dir, "archives", e.Name(), archiveMeta))
		if err != nil {
			continue
		}
		var a Archive
		if json.Unmarshal(b, &a) == nil {
			a.Name = e.Name()
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Archive) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// recoverInstalls finishes or rolls back replacements a crash interrupted.
func recoverInstalls(showsDir string) error {
	entries, err := os.ReadDir(showsDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		path := filepath.Join(showsDir, n)
		switch {
		case strings.HasPrefix(n, incomingPrefix), strings.HasPrefix(n, oldPrefix):
			if err := os.RemoveAll(path); err != nil {
				return err
			}
		case strings.HasPrefix(n, readyPrefix):
			rest := strings.TrimPrefix(n, readyPrefix)
			i := strings.LastIndex(rest, "-")
			if i <= 0 {
				continue
			}
			live := filepath.Join(showsDir, rest[:i])
			if _, err := os.Stat(live); errors.Is(err, os.ErrNotExist) {
				if err := os.Rename(path, live); err != nil {
					return err
				}
			} else if err := os.RemoveAll(path); err != nil {
				return err
			}
		}
	}
	return syncDir(showsDir)
}

// noPreallocateFS is an FS whose files ignore Preallocate (Options.NoPreallocate).
type noPreallocateFS struct{ vfs.FS }

func (fs noPreallocateFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil {
		return f, err
	}
	return noPreallocateFile{f}, nil
}

func (fs noPreallocateFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil {
		return f, err
	}
	return noPreallocateFile{f}, nil
}

type noPreallocateFile struct{ vfs.File }

func (noPreallocateFile) Preallocate(_, _ int64) error { return nil }
