package store

// A damaged copy (a file that fails its checksums, is cut short or is
// missing) is an error, never a panic. Pebble reports damage it meets while
// reading to its event listener, whose default calls the logger's Fatalf:
// that panicked a launch (net/http recovered it, and consolectl said "EOF")
// and the last server's log-off compaction. Here the listener records it
// instead and the read fails with Pebble's error; the show is reported as
// damaged (Damaged) until its copy is replaced or archived.
//
// Pebble checks a block only when it reads it, so a launch checks the whole
// copy first (CheckShow): every block of every sstable against its checksum.
// Sstables never change, so each is checked once per run of the process.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrDamaged marks a copy that fails its checks.
var ErrDamaged = errors.New("damaged copy")

// DamageError names a damaged copy and the file that fails, when known.
type DamageError struct {
	Show string
	File string // path of the file that fails its checks; "" when not known
	Err  error
}

func (d *DamageError) Error() string {
	where := d.File
	if where == "" {
		where = "its files"
	}
	return fmt.Sprintf("the copy of show %s is damaged: %s: %s", d.Show, where, oneLine(d.Err.Error()))
}

func (d *DamageError) Unwrap() []error { return []error{ErrDamaged, d.Err} }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// damage is the store's record of damaged copies and of the sstables that
// passed their check.
type damage struct {
	shows    map[string]*DamageError
	verified map[string]map[tableID]bool // by show: sstables that passed
}

// tableID is an sstable file as it is on disk. A file that is replaced, or
// a copy installed under the same name, has another.
type tableID struct {
	dev, ino   uint64
	size, time int64
}

// eventListener routes Pebble's report of damage in show name's DB to the
// store; a copy being received or archived is not the show.
func (s *Store) eventListener(name string) *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			if filepath.Dir(info.Path) != s.showDir(name) {
				s.log.Error("pebble: damaged file outside the live copy", "show", name, "file", info.Path, "err", oneLine(fmt.Sprint(info.Details)))
				return
			}
			s.noteDamage(name, info.Path, info.Details)
		},
	}
}

// noteDamage records that show name's copy is damaged and returns the error
// that says so. The first record stays until the copy is replaced.
func (s *Store) noteDamage(name, file string, err error) *DamageError {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	if d := s.dmg.shows[name]; d != nil {
		return d
	}
	d := &DamageError{Show: name, File: file, Err: err}
	if s.dmg.shows == nil {
		s.dmg.shows = map[string]*DamageError{}
	}
	s.dmg.shows[name] = d
	delete(s.dmg.verified, name)
	s.log.Error("store: damaged copy", "show", name, "file", file, "err", oneLine(err.Error()))
	return d
}

// clearDamage forgets show name's damage: its copy was replaced. The
// tables that passed stay known: those of a received copy (CopyReceived)
// are the new copy's, and the old copy's no longer match any file (Check
// forgets them).
func (s *Store) clearDamage(name string) {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	delete(s.dmg.shows, name)
}

// CopyReceived records the sstables of the copy of show name at dir,
// received whole and synced but not yet installed, as passed: the launch
// check after Install (which keeps the files' identity) need not read a
// 1 GB copy again that just arrived. Its sender's tables passed their own
// checks, TLS checked every byte on the way, and Pebble still checks each
// block it reads, so damage found later is reported as any other.
func (s *Store) CopyReceived(name, dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return err
	}
	ids := make([]tableID, 0, len(paths))
	for _, p := range paths {
		id, err := fileID(p)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	if s.dmg.verified == nil {
		s.dmg.verified = map[string]map[tableID]bool{}
	}
	if s.dmg.verified[name] == nil {
		s.dmg.verified[name] = map[tableID]bool{}
	}
	for _, id := range ids {
		s.dmg.verified[name][id] = true
	}
	return nil
}

// fileID is the identity of the file at path as it is on disk.
func fileID(path string) (tableID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return tableID{}, err
	}
	id := tableID{size: fi.Size(), time: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	return id, nil
}

// Damaged lists the damaged copies met since the store was opened.
func (s *Store) Damaged() []*DamageError {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	out := make([]*DamageError, 0, len(s.dmg.shows))
	for _, d := range s.dmg.shows {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *DamageError) int { return strings.Compare(a.Show, b.Show) })
	return out
}

// CheckShow checks this store's copy of show name: that Pebble opens it,
// that its lineage record holds, and every block of every sstable against
// its checksum. A damaged copy is a *DamageError (ErrDamaged); no copy is
// no error. Other errors (no descriptor left, say) say nothing of the copy.
func (s *Store) CheckShow(name string) error {
	if !s.HasShow(name) {
		return nil
	}
	s.damageMu.Lock()
	d := s.dmg.shows[name]
	s.damageMu.Unlock()
	if d != nil {
		return d
	}
	sh, err := s.OpenShow(name, false)
	if errors.Is(err, ErrNoShow) {
		return nil // gone meanwhile, or a join is bringing it
	}
	if err != nil {
		return s.openFailed(name, err)
	}
	defer sh.Close()
	return sh.Check()
}

// Check is CheckShow for a show that is open: every block of every
// sstable against its checksum. A placeholder has nothing to check.
func (sh *Show) Check() error {
	s := sh.st
	s.damageMu.Lock()
	d := s.dmg.shows[sh.name]
	s.damageMu.Unlock()
	if d != nil {
		return d
	}
	tables, err := sh.LiveTables()
	if err != nil {
		return err
	}
	live := map[tableID]bool{}
	for _, t := range tables {
		id, err := s.checkTable(sh.name, t.Path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // compacted away since it was listed
			}
			return s.noteDamage(sh.name, t.Path, err)
		}
		live[id] = true
	}
	// Forget the tables that are gone (compacted, or of a copy replaced).
	s.damageMu.Lock()
	if s.dmg.shows[sh.name] == nil {
		if s.dmg.verified == nil {
			s.dmg.verified = map[string]map[tableID]bool{}
		}
		s.dmg.verified[sh.name] = live
	}
	s.damageMu.Unlock()
	return nil
}

// Damage returns the damage recorded for show name's copy, or nil.
func (s *Store) Damage(name string) *DamageError {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	return s.dmg.shows[name]
}

// openFailed tells damage from other reasons Pebble did not open the copy
// of show name: a file that fails its check, a file missing, or a record
// that does not hold.
func (s *Store) openFailed(name string, err error) error {
	var d *DamageError
	if errors.As(err, &d) {
		return d
	}
	for _, transient := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EACCES, syscall.EAGAIN, ErrClosed} {
		if errors.Is(err, transient) {
			return err
		}
	}
	paths, _ := filepath.Glob(filepath.Join(s.showDir(name), "*.sst"))
	for _, p := range paths {
		if _, cerr := s.checkTable(name, p); cerr != nil && !errors.Is(cerr, os.ErrNotExist) {
			return s.noteDamage(name, p, cerr)
		}
	}
	if pebble.IsCorruptionError(err) || errors.Is(err, os.ErrNotExist) {
		return s.noteDamage(name, "", err)
	}
	return err
}

// checkTable reads every block of the sstable at path and checks it
// against its checksum, unless that file passed already, and returns the
// file's identity.
func (s *Store) checkTable(name, path string) (tableID, error) {
	id, err := fileID(path)
	if err != nil {
		return id, err
	}
	s.damageMu.Lock()
	done := s.dmg.verified[name][id]
	s.damageMu.Unlock()
	if done {
		return id, nil
	}
	f, err := vfs.Default.Open(path)
	if err != nil {
		return id, err
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		f.Close()
		return id, err
	}
	r, err := sstable.NewReader(context.Background(), readable, sstable.ReaderOptions{})
	if err != nil {
		readable.Close()
		return id, err
	}
	err = r.ValidateBlockChecksums()
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return id, err
	}
	s.damageMu.Lock()
	if s.dmg.verified == nil {
		s.dmg.verified = map[string]map[tableID]bool{}
	}
	if s.dmg.verified[name] == nil {
		s.dmg.verified[name] = map[tableID]bool{}
	}
	s.dmg.verified[name][id] = true
	s.damageMu.Unlock()
	return id, nil
}

// ArchiveDamaged moves the damaged copy of show name, which must not be
// open, to the archives, so that a whole copy can take its place: nothing
// in it is thrown away. console is recorded in the archive.
func (s *Store) ArchiveDamaged(name, console string, d *DamageError) (Archive, error) {
	if err := s.enter(); err != nil {
		return Archive{}, err
	}
	defer s.leave()
	s.mu.Lock()
	open := s.shows[name] != nil
	s.mu.Unlock()
	if open {
		return Archive{}, fmt.Errorf("store: archive show %s: it is open", name)
	}
	a, err := s.archive(name, s.showDir(name), "damaged: "+d.Error(), console)
	if err != nil {
		return a, fmt.Errorf("store: archive damaged show %s: %w", name, err)
	}
	if err := syncDir(filepath.Join(s.dir, "shows")); err != nil {
		return a, err
	}
	s.clearDamage(name)
	return a, nil
}
