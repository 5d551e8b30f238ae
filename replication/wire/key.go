// Package wire is the peer protocol between consoles of a show network: the
// network key, TLS derived from it, framing, the messages and the handshake.
//
// Only consoles holding the show network's key can complete a connection:
// the key deterministically derives a CA that every console re-creates, and
// each console's fresh leaf certificate is signed by that CA. Everything after
// the TLS handshake is encrypted and authenticated by TLS 1.3.
package wire

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Key is the show network's 32-byte secret. Its String method prints only
// the fingerprint, so a Key that slips into a log line does not leak; use Hex
// to provision another console.
type Key [32]byte

// keyFileMax bounds how much of a key file is read: a real one is 65 bytes.
const keyFileMax = 1024

// LoadOrCreateKey reads the network key at path, or creates it (mode 0600,
// parent directory 0700 if missing) when the file does not exist. created
// reports whether a new key was made. An existing file that group or others
// can read or write is refused: the key is the network's only credential.
func LoadOrCreateKey(path string) (k Key, created bool, err error) {
	k, err = loadKey(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Key{}, false, err
	}
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, false, fmt.Errorf("wire: generating network key: %w", err)
	}
	won, err := createKeyFile(path, k)
	if err != nil {
		return Key{}, false, err
	}
	if !won {
		// Another process created the file between our read and our
		// create; its key is the one on disk, so use it.
		k, err = loadKey(path)
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("wire: reading network key: %w", err)
		}
		return k, false, err
	}
	return k, true, nil
}

func loadKey(path string) (Key, error) {
	// O_NONBLOCK: opening a FIFO for reading would wait for a writer; the
	// file is checked to be regular (where the flag changes nothing) before
	// anything is read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Key{}, err
		}
		return Key{}, fmt.Errorf("wire: reading network key: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode we check is the mode
	// of the bytes we read.
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("wire: reading network key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("wire: network key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("wire: network key file %s has mode %04o, so group or others can read or write it; run: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, keyFileMax+1))
	if err != nil {
		return Key{}, fmt.Errorf("wire: reading network key %s: %w", path, err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		// ParseKey never echoes its input; neither do we: it may be
		// most of a secret.
		return Key{}, fmt.Errorf("wire: network key file %s is malformed: it must hold exactly 64 hex characters (32 bytes) and a newline", path)
	}
	return k, nil
}

// createKeyFile writes k to path atomically: a temporary file in the same
// directory is written and fsynced, then linked into place, so a reader sees
// no file or a complete one. Linking (not renaming) never replaces a key that
// appeared meanwhile; won is false in that case. Where the filesystem has no
// hard links it falls back to rename.
func createKeyFile(path string, k Key) (won bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("wire: creating network key directory: %w", err)
	}
	// CreateTemp makes the file 0600 whatever the umask.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("wire: creating network key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op once linked and removed, or renamed
	_, err = tmp.WriteString(k.Hex() + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("wire: writing network key %s: %w", path, err)
	}
	switch err := os.Link(tmpName, path); {
	case err == nil:
	case errors.Is(err, os.ErrExist):
		return false, nil
	default:
		if err := os.Rename(tmpName, path); err != nil {
			return false, fmt.Errorf("wire: creating network key %s: %w", path, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return false, fmt.Errorf("wire: creating network key %s: %w", path, err)
	}
	return true, nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ParseKey parses a key as printed by Hex (64 hex characters; surrounding
// white space, such as the file's newline, is ignored). The error never
// contains the input.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var k Key
	if len(s) != 2*len(k) {
		return Key{}, fmt.Errorf("wire: network key must be 64 hex characters, got %d characters", len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, errors.New("wire: network key must be 64 hex characters, found a non-hex character")
	}
	return k, nil
}

// Hex returns the key as 64 lowercase hex characters: the secret itself.
func (k Key) Hex() string { return hex.EncodeToString(k[:]) }

// String returns a redacted form naming only the fingerprint.
func (k Key) String() string { return "network-key:" + k.Fingerprint() }

// fingerprintInfo separates the fingerprint from every other use of the key,
// so publishing it reveals nothing about the CA derivation.
const fingerprintInfo = "consoled network key fingerprint v1\x00"

// Fingerprint returns a short, non-secret ID of the key (8 hex characters)
// for logs, status and the Hello message: two consoles with different
// fingerprints hold different keys.
func (k Key) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(fingerprintInfo))
	h.Write(k[:])
	return hex.EncodeToString(h.Sum(nil)[:4])
}
