package replication

// A launch checks this console's copy of the show: every file against its
// checksums (store.Show.Check). A damaged copy is never launched as the
// show's active copy. When a console that serves the show is on the network
// the launch joins it: the damaged copy is kept as an archive and a whole
// copy comes from the active. Otherwise the launch fails with a message
// naming the show and the file, and the ways out.

import (
	"errors"
	"fmt"

	"consoled/replication/store"
)

// knownDamage runs before a launch opens show: a copy known to be damaged
// (a check or a read found it) is not opened again, and after a damaged
// copy was archived for a join that did not happen, launching as active
// would make a new, empty show under its name.
func (e *Engine) knownDamage(show string, joining bool) error {
	if d := e.st.Damage(show); d != nil {
		if err := e.damaged(show, joining, d); err != nil {
			return fmt.Errorf("replication: launch %s: %w", show, err)
		}
		return nil
	}
	if !joining && e.wasDamaged(show) && !e.st.HasShow(show) {
		return fmt.Errorf("replication: launch %s: this console's copy was damaged and is kept as an archive, and no console that serves %s can be reached to send a whole copy: launch again once one can, or bring back an archive (consolectl archives, consolectl restore NAME)", show, show)
	}
	return nil
}

// checkOpened checks the copy a launch opened (sh, or the error opening
// it), and returns the show to go on with, or why not.
func (e *Engine) checkOpened(show string, joining bool, sh *store.Show, openErr error) (*store.Show, error) {
	var d *store.DamageError
	switch {
	case openErr != nil:
		if !errors.As(e.st.CheckShow(show), &d) {
			return nil, openErr
		}
	case sh.Placeholder():
		return sh, nil
	default:
		err := sh.Check()
		if err == nil {
			e.forgetDamaged(show)
			return sh, nil
		}
		sh.Close()
		if !errors.As(err, &d) {
			return nil, fmt.Errorf("checking this console's copy: %w", err)
		}
	}
	if err := e.damaged(show, joining, d); err != nil {
		return nil, err
	}
	return e.st.OpenPlaceholder(show)
}

// damaged handles a launch's damaged copy of show: refused, or kept as an
// archive when joining, which then goes on with no copy.
func (e *Engine) damaged(show string, joining bool, d *store.DamageError) error {
	if !joining {
		return fmt.Errorf("%w; it is not launched: launch again while a console that serves %s is on the show network (this console then takes a whole copy and keeps the damaged one as an archive), or bring back an archive (consolectl archives, consolectl restore NAME)", d, show)
	}
	a, err := e.st.ArchiveDamaged(show, e.id, d)
	if err != nil {
		return fmt.Errorf("%w; keeping it as an archive, to take a whole copy instead, failed: %w", d, err)
	}
	e.guard.mu.Lock()
	if e.guard.damaged == nil {
		e.guard.damaged = map[string]bool{}
	}
	e.guard.damaged[show] = true
	e.guard.mu.Unlock()
	e.log.Warn("this console's copy is damaged: kept as an archive; joining for a whole copy", "show", show, "archive", a.Name, "err", d)
	return nil
}

// wasDamaged reports whether a launch archived a damaged copy of show and
// no sound copy has been opened since.
func (e *Engine) wasDamaged(show string) bool {
	e.guard.mu.Lock()
	defer e.guard.mu.Unlock()
	return e.guard.damaged[show]
}

func (e *Engine) forgetDamaged(show string) {
	e.guard.mu.Lock()
	defer e.guard.mu.Unlock()
	delete(e.guard.damaged, show)
}
