package firmware

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"consoled/replication/wire"
)

// A start-up that fails leaves no file behind that it made: not a fresh
// network key (which a second try would then use as if it had been
// provisioned), not a data directory or a store skeleton.

// startFiles remembers what existed before start-up, to undo the rest.
type startFiles struct {
	data    string
	created string          // the topmost directory start-up made; "" none
	before  map[string]bool // the data directory's entries before
}

func noteStartFiles(data string) *startFiles {
	f := &startFiles{data: data, before: map[string]bool{}}
	for dir := filepath.Clean(data); ; dir = filepath.Dir(dir) {
		if _, err := os.Lstat(dir); err == nil {
			break
		}
		f.created = dir
		if filepath.Dir(dir) == dir {
			break
		}
	}
	if entries, err := os.ReadDir(data); err == nil {
		for _, e := range entries {
			f.before[e.Name()] = true
		}
	}
	return f
}

// undo removes what start-up made. The service is closed by then.
func (f *startFiles) undo() {
	if f.created != "" {
		os.RemoveAll(f.created)
		return
	}
	entries, _ := os.ReadDir(f.data)
	for _, e := range entries {
		if !f.before[e.Name()] {
			os.RemoveAll(filepath.Join(f.data, e.Name()))
		}
	}
}

// loadKey reads the network key at path. When there is none, it makes a
// new one in memory, and save writes it once start-up has succeeded.
func loadKey(path string) (key wire.Key, save func() (bool, error), err error) {
	key, err = wire.LoadKey(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, func() (bool, error) { return false, nil }, err
	}
	if _, err := rand.Read(key[:]); err != nil {
		return key, nil, fmt.Errorf("generating a network key: %w", err)
	}
	return key, func() (bool, error) { return writeNewKey(path, key) }, nil
}

// writeNewKey writes k to path (mode 0600, its directory 0700 if new)
// atomically, and never over a key that appeared meanwhile: then that key
// must be the same (created is false), else start-up fails.
func writeNewKey(path string, k wire.Key) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("network key %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // 0600 whatever the umask
	if err != nil {
		return false, fmt.Errorf("network key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(k.Hex() + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("network key %s: %w", path, err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
	case !errors.Is(err, os.ErrExist):
		// A file system without hard links.
		if err := os.Rename(tmp.Name(), path); err != nil {
			return false, fmt.Errorf("network key %s: %w", path, err)
		}
	default:
		theirs, err := wire.LoadKey(path)
		if err != nil {
			return false, err
		}
		if theirs != k {
			return false, fmt.Errorf("network key %s appeared while this console started; start it again to use it", path)
		}
		return false, nil
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return true, nil
}
