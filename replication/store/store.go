// Package store is the Pebble show store: each show's objects, its edit log and
// its lineage record, one Pebble DB per show.
//
// Layout of a data directory:
//
//	DIR/shows/<name>/   one Pebble DB per show
//	DIR/shows/.creating-<name>-<hex>/   a show being created (removed at Open)
//
// A show directory holds one whole copy and nothing else, so a later full sync
// can build a new copy beside it and switch it in with a rename.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

var (
	ErrNoShow   = errors.New("no such show")
	ErrDiskFull = errors.New("disk full")
	ErrClosed   = errors.New("closed")
)

// Options tunes a Store. The zero value is the default for every field.
type Options struct {
	// Logger receives the store's and Pebble's log lines (Pebble's routine
	// lines at debug level). Default slog.Default().
	Logger *slog.Logger

	// MinFreeBytes: writes (Append, Apply) are refused with ErrDiskFull when
	// the disk holding DIR would have less free space than this. The reserve
	// leaves room for the small writes that must still work on a full disk
	// (lineage records, log trimming, compaction) and keeps Pebble from ever
	// hitting ENOSPC in its WAL, which it treats as fatal. Default 16 MiB.
	MinFreeBytes uint64

	// LogRetain is how many of the newest edits a show's edit log keeps, for
	// incremental catch-up of backups (EditsSince). The log is trimmed as
	// edits are committed (in steps of 1024, in the same batch), so a full
	// copy does not ship every value twice. A backup missing more edits than
	// the engine's catch-up limit gets a whole copy anyway. Default 10000.
	LogRetain uint64

	// CacheBytes is Pebble's block cache, shared by all open shows. Default
	// 8 MiB: a show is a few MiB, the console is a small device.
	CacheBytes int64

	// OnFatal is called when Pebble cannot go on with show's DB (its
	// logger's Fatalf: a failed WAL or MANIFEST write leaves its commit
	// pipeline broken; a write it was making may be reported done without
	// being durable). It must not return: Pebble's code goes on as if it
	// had not been called. Default: log and exit the process with status 1,
	// as Pebble's own logger does, so that a backup takes over and the
	// console restarts on its WAL. Damage found reading a copy is not
	// fatal (damage.go).
	OnFatal func(show string, err error)

	// MemTableBytes is Pebble's memtable size per open show. Default 4 MiB.
	// 16 MiB halves the store's CPU per edit over long runs (most edit-log
	// entries are trimmed before such a memtable is flushed: 9.3 → 5.5 µs
	// over 960k edits), but a full sync flushes the memtable into the
	// checkpoint it sends, and took 1.82× the raw copy instead of 1.57×
	// (same bench, same hour), with no gain in the 5 s edit-rate bench.
	MemTableBytes uint64

	// For the deterministic simulation of the replication engine: Rand
	// makes ShowIDs and the names of archives and of directories being
	// built (default crypto/rand), Now stamps archives (default time.Now),
	// and NoCompactions keeps Pebble from compacting in the background, so
	// that a copy's files are the same in two runs of one seed.
	// NoPreallocate keeps Pebble from preallocating its WAL files (by
	// default it reserves 1.1 memtables of disk for each): the simulation
	// keeps its stores on tmpfs, where that zeroes memory on every open.
	Rand          io.Reader
	Now           func() time.Time
	NoCompactions bool
	NoPreallocate bool
}

const (
	DefaultMinFreeBytes  = 16 << 20
	DefaultLogRetain     = 10000
	DefaultCacheBytes    = 8 << 20
	DefaultMemTableBytes = 4 << 20
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = DefaultMinFreeBytes
	}
	if o.LogRetain == 0 {
		o.LogRetain = DefaultLogRetain
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnFatal == nil {
		log := o.Logger
		o.OnFatal = func(show string, err error) {
			log.Error("store: Pebble cannot go on; stopping the process", "show", show, "err", err)
			os.Exit(1)
		}
	}
	return o
}

// Store is a data directory of shows. It is safe for concurrent use.
type Store struct {
	dir   string
	opts  Options
	log   *slog.Logger
	disk  *diskGuard
	cache *pebble.Cache

	mu     sync.Mutex
	shows  map[string]*Show
	closed bool
	// closing has a channel for each show whose last reference is being
	// closed, closed when it is: Pebble holds the directory's lock until
	// then, so an open meanwhile waits for it.
	closing map[string]chan struct{}

	damageMu sync.Mutex
	dmg      damage // damaged copies and checked sstables (damage.go)
	// Install and Restore open Pebble DBs (on the shared cache) outside mu;
	// Close waits for them. Counted under mu, with closed false.
	ops    sync.WaitGroup
	randMu sync.Mutex // s.opts.Rand may not be safe for concurrent use

	// archiveMu lets one reader open an archive at a time: Pebble locks a
	// directory even when it opens it read-only.
	archiveMu sync.Mutex
}

// enter counts a call that uses the store outside mu, or fails once the
// store is closed. leave ends it.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store %w", ErrClosed)
	}
	s.ops.Add(1)
	return nil
}

func (s *Store) leave() { s.ops.Done() }

const creatingPrefix = ".creating-"

// Open opens (creating if needed) the data directory dir.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	showsDir := filepath.Join(dir, "shows")
	if err := os.MkdirAll(showsDir, 0o750); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	// A crash while creating a show leaves a half-made copy under a name no
	// show can have; it was never visible, so it goes.
	entries, err := os.ReadDir(showsDir)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), creatingPrefix) {
			if err := os.RemoveAll(filepath.Join(showsDir, e.Name())); err != nil {
				return nil, fmt.Errorf("store: open %s: remove unfinished show: %w", dir, err)
			}
		}
	}
	if err := recoverInstalls(showsDir); err != nil {
		return nil, fmt.Errorf("store: open %s: finish an interrupted copy replacement: %w", dir, err)
	}
	return &Store{
		dir:   dir,
		opts:  opts,
		log:   opts.Logger,
		disk:  newDiskGuard(dir, opts.MinFreeBytes),
		cache: pebble.NewCache(opts.CacheBytes),
		shows: make(map[string]*Show),
	}, nil
}

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) showDir(name string) string { return filepath.Join(s.dir, "shows", name) }

// Shows returns the names of the shows present, sorted.
func (s *Store) Shows() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "shows"))
	if err != nil {
		return nil, fmt.Errorf("store: list shows in %s: %w", s.dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && ValidateShowName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// HasShow reports whether this store has a copy of show name.
func (s *Store) HasShow(name string) bool {
	if ValidateShowName(name) != nil {
		return false
	}
	_, err := os.Stat(s.showDir(name))
	return err == nil
}

// OpenShow opens the show name. A missing show is created when create is true,
// else the error wraps ErrNoShow. Opening a show that is already open returns
// the same *Show; it is closed when Close has been called as many times as
// OpenShow, or when the Store is closed.
func (s *Store) OpenShow(name string, create bool) (*Show, error) {
	return s.openShow(name, create, slog.LevelInfo)
}

// openShow is OpenShow; a show it creates is logged at level.
func (s *Store) openShow(name string, create bool, level slog.Level) (*Show, error) {
	if err := ValidateShowName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	for s.closing[name] != nil {
		done := s.closing[name]
		s.mu.Unlock()
		<-done
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("store: open show %s: store %w", name, ErrClosed)
	}
	if sh := s.shows[name]; sh != nil {
		if sh.placeholder {
			// Only OpenPlaceholder hands those out: the caller wants the copy
			// on disk, and there is none while a join is bringing it.
			return nil, fmt.Errorf("store: show %s: %w (a join is bringing it)", name, ErrNoShow)
		}
		sh.refs++
		return sh, nil
	}
	dir := s.showDir(name)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("store: show %s: %w", name, ErrNoShow)
		}
		if err := s.createShow(name, level); err != nil {
			return nil, fmt.Errorf("store: create show %s: %w", name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("store: open show %s: %w", name, err)
	}
	sh, err := openShow(s, name, dir)
	if err != nil {
		return nil, err
	}
	s.shows[name] = sh
	return sh, nil
}

// createShow builds an empty show with a fresh ShowID beside the others and
// renames it into place, so a show directory always holds a complete show.
func (s *Store) createShow(name string, level slog.Level) error {
	tmp := s.showDir(creatingPrefix + name + "-" + s.randomHex(4))
	db, err := pebble.Open(tmp, s.pebbleOptions(name, false))
	if err != nil {
		return err
	}
	lin, err := writeEmpty(db, pebble.Sync, s.randomHex(16))
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.showDir(name))
	}
	if err == nil {
		err = syncDir(filepath.Join(s.dir, "shows"))
	}
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	s.log.Log(context.Background(), level, "store: created show", "show", name, "show_id", lin.ShowID)
	return nil
}

// writeEmpty makes db an empty show with a fresh ShowID.
func writeEmpty(db *pebble.DB, o *pebble.WriteOptions, showID string) (Lineage, error) {
	lin := Lineage{ShowID: showID}
	b := db.NewBatch()
	defer b.Close()
	b.Set(keyLineage, encodeLineage(lin), nil)
	b.Set(keySeq, encodeSeq(0), nil)
	b.Set(keyFormat, []byte{formatVersion}, nil)
	return lin, b.Commit(o)
}

func (s *Store) pebbleOptions(name string, mustExist bool) *pebble.Options {
	o := &pebble.Options{
		Cache:              s.cache,
		FS:                 pebbleFS,
		MemTableSize:       s.opts.MemTableBytes,
		MaxOpenFiles:       256,
		FormatMajorVersion: pebble.FormatNewest,
		ErrorIfNotExists:   mustExist,
		Logger:             s.pebbleLogger(name),
		EventListener:      s.eventListener(name),
	}
	o.DisableAutomaticCompactions = s.opts.NoCompactions
	if s.opts.NoPreallocate {
		o.FS = noPreallocateFS{o.FS}
	}
	o.WithFSDefaults() // Pebble's disk health checks, which it adds only to a default FS
	return o
}

// Close closes every open show and the store.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	shows := s.shows
	s.shows = nil
	s.mu.Unlock()
	s.ops.Wait()

	var errs []error
	for _, sh := range shows {
		errs = append(errs, sh.shutdown())
	}
	s.cache.Unref()
	return errors.Join(errs...)
}

// release drops one reference to sh and closes it with the last.
func (s *Store) release(sh *Show) error {
	s.mu.Lock()
	if s.shows[sh.name] != sh {
		// Already closed, by the store or by earlier Closes.
		s.mu.Unlock()
		return nil
	}
	sh.refs--
	if sh.refs > 0 {
		s.mu.Unlock()
		return nil
	}
	delete(s.shows, sh.name)
	done := make(chan struct{})
	if s.closing == nil {
		s.closing = map[string]chan struct{}{}
	}
	s.closing[sh.name] = done
	s.mu.Unlock()
	err := sh.shutdown()
	s.mu.Lock()
	delete(s.closing, sh.name)
	s.mu.Unlock()
	close(done)
	return err
}

func (s *Store) randomHex(n int) string {
	b := make([]byte, n)
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if _, err := io.ReadFull(s.opts.Rand, b); err != nil {
		panic(err) // crypto/rand never fails (its docs); a simulation's source neither
	}
	return hex.EncodeToString(b)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
