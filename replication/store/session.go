package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A console's session: the show it is logged on to, kept on disk from a
// launch until a log-off, so that a console that stopped without logging
// off (a power cut, a crash, kill -9) can tell at its next start which show
// to launch again (consoled --resume).

const sessionFile = "logged-on.json"

// Session is the show a console is logged on to, and since when.
type Session struct {
	Show  string    `json:"show"`
	Since time.Time `json:"since"`
}

// LoggedOn returns the session recorded by the last launch that was not
// followed by a log-off, or the zero Session.
func (s *Store) LoggedOn() (Session, error) {
	var sess Session
	b, err := os.ReadFile(filepath.Join(s.dir, sessionFile))
	if errors.Is(err, os.ErrNotExist) {
		return sess, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &sess)
	}
	if err == nil && sess.Show != "" {
		err = ValidateShowName(sess.Show)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: %s: %w", filepath.Join(s.dir, sessionFile), err)
	}
	return sess, nil
}

// SetLoggedOn records the session durably (written beside, synced, renamed
// over); a zero Session removes the record.
func (s *Store) SetLoggedOn(sess Session) error {
	path := filepath.Join(s.dir, sessionFile)
	if sess.Show == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: clear %s: %w", path, err)
		}
		return syncDir(s.dir)
	}
	if err := ValidateShowName(sess.Show); err != nil {
		return err
	}
	b, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	if err := writeSynced(path, b); err != nil {
		return fmt.Errorf("store: record the session: %w", err)
	}
	return nil
}

// writeSynced replaces path with b durably: written beside, synced,
// renamed over, the directory synced.
func writeSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
