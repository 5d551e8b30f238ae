package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// ErrNoArchive: restore named an archive that is not there.
var ErrNoArchive = errors.New("no such archive")

// Restore brings the archive back as a show of its own, named like the
// archive, and returns that name. The archive stays as it was (restoring is
// a copy), and the new show gets a ShowID of its own: it is a different show
// from the one the archive was a copy of, so the two are never mistaken for
// copies of each other on the show network.
func (s *Store) Restore(archive string) (string, error) {
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("store: restore %s: %w", archive, err)
	}
	if err := s.enter(); err != nil {
		return fail(err)
	}
	defer s.leave()
	if ValidateShowName(archive) != nil {
		return fail(ErrNoArchive) // not a name an archive can have
	}
	src := filepath.Join(s.dir, "archives", archive)
	if _, err := os.Stat(filepath.Join(src, archiveMeta)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail(fmt.Errorf("%w (see consolectl archives)", ErrNoArchive))
		}
		return fail(err)
	}
	name := archive
	if _, err := os.Stat(s.showDir(name)); err == nil {
		return fail(fmt.Errorf("restored already: show %s exists", name))
	}
	tmp := s.showDir(creatingPrefix + name + "-" + s.randomHex(4))
	err := s.restoreInto(src, tmp, name)
	if err == nil {
		err = os.Rename(tmp, s.showDir(name))
	}
	if err == nil {
		err = syncDir(filepath.Join(s.dir, "shows"))
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fail(err)
	}
	s.log.Info("store: restored an archive as a show", "archive", archive, "show", name)
	return name, nil
}

// restoreInto copies the archive's files to tmp and gives the copy a new
// ShowID.
func (s *Store) restoreInto(src, tmp, name string) error {
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == archiveMeta || !e.Type().IsRegular() {
			continue
		}
		if err := copyFileSynced(filepath.Join(src, e.Name()), filepath.Join(tmp, e.Name())); err != nil {
			return err
		}
	}
	db, err := pebble.Open(tmp, s.pebbleOptions(name, true))
	if err != nil {
		return fmt.Errorf("archived copy: %w", err)
	}
	lin, err := loadLineage(db)
	if err == nil {
		lin.ShowID = s.randomHex(16)
		err = db.Set(keyLineage, encodeLineage(lin), pebble.Sync)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("archived copy: %w", err)
	}
	return syncDir(tmp)
}

func copyFileSynced(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadArchive calls fn with every object of the archive, in key order,
// without restoring it. fn may keep the Object.
func (s *Store) ReadArchive(archive string, fn func(Object) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if ValidateShowName(archive) != nil {
		return fmt.Errorf("store: read archive %s: %w", archive, ErrNoArchive)
	}
	dir := filepath.Join(s.dir, "archives", archive)
	if _, err := os.Stat(filepath.Join(dir, archiveMeta)); err != nil {
		return fmt.Errorf("store: read archive %s: %w", archive, err)
	}
	o := s.pebbleOptions(archive, true)
	o.ReadOnly = true
	s.archiveMu.Lock()
	defer s.archiveMu.Unlock()
	db, err := pebble.Open(dir, o)
	if err != nil {
		return fmt.Errorf("store: read archive %s: %w", archive, err)
	}
	defer db.Close()
	if err := checkFormatReadOnly(db); err != nil {
		return fmt.Errorf("store: read archive %s: %w", archive, err)
	}
	return scanObjects(db, func(k, v []byte) error {
		return fn(Object{Key: string(k), Value: slices.Clone(v)})
	})
}
