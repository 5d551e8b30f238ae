package replication

// Checks on what peers send. A console that holds the network key is
// trusted to take part in the show, not to be well made: a broken or hostile
// one must not panic this console, wedge it, or have it act on nonsense.
// readLoop runs checkMsg on every message before its handler sees it: its
// content (counts, ranges, names) and its place (a reply to an exchange this
// console never began, an Ack from a console that never joined). A message
// that a race brings legitimately is no fault, and its handler answers or
// drops it as before: a Join that reaches a console which has just logged
// off, the tail of a stream whose exchange has just ended, an Ack that
// arrives after the backup was dropped. A bad message ends the connection,
// is counted (Status.BadMessages) and shows as a protocol fault for a while.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"consoled/replication/store"
	"consoled/replication/wire"
)

// peerGuard is what the checks keep about one connection.
type peerGuard struct {
	joined atomic.Bool // the peer sent a Join on this connection

	once     sync.Once
	forwards chan struct{} // one token per Forward being ordered
}

// maxForwards bounds the Forwards of one peer being ordered at once (each
// has a goroutine); readLoop waits for a slot, which slows that peer alone.
const maxForwards = 1024

// maxSnapFile bounds a file of a full copy (1 TiB): a size past it is not a
// show's file.
const maxSnapFile = 1 << 40

func (g *peerGuard) slots() chan struct{} {
	g.once.Do(func() { g.forwards = make(chan struct{}, maxForwards) })
	return g.forwards
}

// takeForwardSlot waits until p may have one more Forward ordered; false
// when the engine stops first.
func (p *peer) takeForwardSlot(ctx context.Context) bool {
	select {
	case p.guard.slots() <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *peer) releaseForwardSlot() { <-p.guard.slots() }

// checkMsg checks m from p before it is acted on. A bad one is counted and
// noted as a protocol fault; the caller closes the connection.
func (e *Engine) checkMsg(p *peer, m wire.Msg) error {
	err := e.validMsg(p, m)
	if err != nil {
		e.badMessage(p, fmt.Errorf("%s: %w", m.Type(), err))
	}
	return err
}

// badMessage records a message from p that could not be used: one that
// failed its checks, or one that did not decode.
func (e *Engine) badMessage(p *peer, err error) {
	e.guard.badMessages.Add(1)
	msg := fmt.Sprintf("console %s sent a bad message, its connection was closed: %v", p.id, err)
	e.net.faultMu.Lock()
	// Keyed by console, not address: a reconnect clears the faults of its
	// address (handshake), and this one should stay visible for a while.
	e.net.faults["message from "+p.id] = faultNote{msg: msg, at: e.sched.Now()}
	e.net.faultMu.Unlock()
	e.log.Error("bad message from peer; closing the connection", "peer", p.id, "addr", p.addr, "err", err)
	e.notify()
}

func (e *Engine) validMsg(p *peer, m wire.Msg) error {
	switch m := m.(type) {
	case *wire.State:
		return validState(p, m)
	case *wire.Join:
		if err := validJoin(m); err != nil {
			return err
		}
		p.guard.joined.Store(true)
		return nil
	case *wire.Ack:
		return e.validAck(p, m)
	case *wire.Forward:
		return validForward(m)
	case *wire.ForwardReply:
		return e.validForwardReply(m)
	case *wire.Leaving:
		return nil
	case *wire.Hello, *wire.HelloReply, *wire.Reject:
		return errors.New("a handshake message after the handshake")
	}
	// The rest answer an exchange this console began on the connection (a
	// join, an adoption or merge, taking a copy). One that ended may leave
	// some behind (they are dropped), but with none ever begun there is
	// nothing they can answer.
	if p.lastExch.Load() == 0 {
		return errors.New("no exchange was begun on this connection")
	}
	switch m := m.(type) {
	case *wire.JoinReply:
		return validJoinReply(m)
	case *wire.Edits:
		if p.merging.Load() {
			return validChanges(m.Edits)
		}
		return validEdits(m.Edits)
	case *wire.SnapBegin:
		return store.ValidateShowName(m.Show)
	case *wire.SnapFile:
		if m.Size > maxSnapFile {
			return fmt.Errorf("file %s of %d bytes", m.Name, m.Size)
		}
		return validFileName(m.Name)
	case *wire.SnapChunk:
		if len(m.Data) == 0 {
			return errors.New("no data")
		}
		return nil
	case *wire.SnapEnd:
		return validSnapEnd(m)
	case *wire.Error:
		return nil
	}
	return fmt.Errorf("unknown message type %s", m.Type())
}

var roles = map[string]bool{string(RoleOff): true, string(RoleActive): true, string(RoleBackup): true, string(RoleSyncing): true}

func validState(p *peer, m *wire.State) error {
	switch {
	case m.Console != p.id:
		return fmt.Errorf("it names console %q on %s's connection", m.Console, p.id)
	case !roles[m.Role]:
		return fmt.Errorf("unknown role %q", m.Role)
	case m.Role != string(RoleOff) && m.Show == "":
		return fmt.Errorf("role %s without a show", m.Role)
	case m.Show != "" && m.ShowID == "":
		return fmt.Errorf("show %q without a ShowID", m.Show)
	case m.Following == p.id:
		return errors.New("a console following itself")
	}
	if m.Show != "" {
		return store.ValidateShowName(m.Show)
	}
	return nil
}

func validJoin(m *wire.Join) error {
	if err := store.ValidateShowName(m.Show); err != nil {
		return err
	}
	return validLineage(m.ShowID, m.Epochs, m.Seq)
}

func validLineage(showID string, eps []wire.Epoch, seq uint64) error {
	if showID == "" {
		return errors.New("no ShowID")
	}
	if err := store.ValidateEpochs(fromWireEpochs(eps), seq); err != nil {
		return fmt.Errorf("seq %d: %w", seq, err)
	}
	return nil
}

func (e *Engine) validAck(p *peer, m *wire.Ack) error {
	if !p.guard.joined.Load() {
		return errors.New("an Ack from a console that never joined on this connection")
	}
	e.acks.mu.Lock()
	l := e.acks.links[p.id]
	linked := l != nil && l.p == p
	e.acks.mu.Unlock()
	if !linked {
		return nil // late: the backup was dropped meanwhile (onAck ignores it)
	}
	// Never wait for the lock here: an adoption holds it while it waits
	// for messages this very reader is to pass on.
	if !e.mu.TryRLock() {
		return nil
	}
	role, sh := e.role, e.show
	e.mu.RUnlock()
	if role == RoleActive && sh != nil {
		if seq := sh.Lineage().Seq; m.Seq > seq {
			return fmt.Errorf("it confirms seq %d, past this console's last edit %d", m.Seq, seq)
		}
	}
	return nil
}

func validForward(m *wire.Forward) error {
	if m.ReqID == 0 {
		return errors.New("request ID 0")
	}
	if len(m.Ops) == 0 {
		return errors.New("no edits")
	}
	for i, o := range m.Ops {
		if err := ValidateOp(store.Op{Key: o.Key, Value: o.Value, Delete: o.Delete}); err != nil {
			return fmt.Errorf("edit %d: %w", i+1, err)
		}
	}
	return nil
}

func (e *Engine) validForwardReply(m *wire.ForwardReply) error {
	e.net.mu.Lock()
	sent := e.net.reqID
	e.net.mu.Unlock()
	switch {
	case m.ReqID == 0 || m.ReqID > sent:
		return fmt.Errorf("it answers request %d, which this console never sent", m.ReqID)
	case m.Err == "" && m.Seq == 0:
		return errors.New("neither a seq nor an error")
	}
	return nil
}

func validJoinReply(m *wire.JoinReply) error {
	switch m.Mode {
	case wire.JoinRefused, wire.JoinBusy:
		return nil
	case wire.JoinElsewhere:
		if !wire.ValidConsoleID(m.Reason) {
			return fmt.Errorf("copy from %q: not a console ID", m.Reason)
		}
		return nil
	case wire.JoinCatchUp, wire.JoinSnapshot, wire.JoinUpToDate:
		return validLineage(m.ShowID, m.Epochs, m.Seq)
	case wire.JoinAdopt, wire.JoinMerge:
		// Seq is where the joiner's edits are to start (the common seq of
		// a merge), which the active's epochs may have passed.
		bound := m.Seq
		if n := len(m.Epochs); n > 0 && m.Epochs[n-1].FirstSeq > 0 {
			bound = max(bound, m.Epochs[n-1].FirstSeq-1)
		}
		return validLineage(m.ShowID, m.Epochs, bound)
	}
	return fmt.Errorf("unknown join mode %d", m.Mode)
}

// validEdits checks a batch of ordered edits: consecutive seqs, each edit
// a valid object change in a named epoch. (An empty batch ends an
// adoption's edits.) Values are not held to UTF-8 here: a copy made before
// that rule may hold others, and it must still replicate.
func validEdits(eds []wire.Edit) error {
	for i, ed := range eds {
		switch {
		case ed.Seq == 0:
			return fmt.Errorf("edit %d has seq 0", i+1)
		case i > 0 && (eds[i-1].Seq == math.MaxUint64 || ed.Seq != eds[i-1].Seq+1):
			return fmt.Errorf("edit seq %d follows %d", ed.Seq, eds[i-1].Seq)
		case ed.Delete && len(ed.Value) > 0:
			return fmt.Errorf("edit %d deletes %q with a value", ed.Seq, ed.Key)
		}
		if err := store.ValidateEpochID(ed.Epoch); err != nil {
			return fmt.Errorf("edit %d: %w", ed.Seq, err)
		}
		if err := store.ValidateKey(ed.Key); err != nil {
			return fmt.Errorf("edit %d: %w", ed.Seq, err)
		}
		if err := store.ValidateValue(ed.Value); err != nil {
			return fmt.Errorf("edit %d: %w", ed.Seq, err)
		}
	}
	return nil
}

// validChanges checks a batch of a joiner's changes for a merge (merge.go):
// each the last state of one object, a valid change, with the seq of the
// write that left it so; they come in key order, each key once, and carry
// no epoch.
func validChanges(eds []wire.Edit) error {
	for i, ed := range eds {
		switch {
		case ed.Seq == 0:
			return fmt.Errorf("change %d has seq 0", i+1)
		case ed.Epoch != "":
			return fmt.Errorf("change of %q names an epoch", ed.Key)
		case ed.Delete && len(ed.Value) > 0:
			return fmt.Errorf("change deletes %q with a value", ed.Key)
		case i > 0 && ed.Key <= eds[i-1].Key:
			return fmt.Errorf("change of %q after %q: not in key order", ed.Key, eds[i-1].Key)
		}
		if err := store.ValidateKey(ed.Key); err != nil {
			return err
		}
		if err := store.ValidateValue(ed.Value); err != nil {
			return fmt.Errorf("change of %q: %w", ed.Key, err)
		}
	}
	return nil
}

func validSnapEnd(m *wire.SnapEnd) error {
	if err := validLineage(m.ShowID, m.Epochs, m.Seq); err != nil {
		return err
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if err := validFileName(f); err != nil {
			return err
		}
		if seen[f] {
			return fmt.Errorf("file %s named twice", f)
		}
		seen[f] = true
	}
	return nil
}

// validFileName accepts the names of a Pebble DB's files (000012.sst,
// MANIFEST-000001, marker.manifest.000001.MANIFEST-000001, ...): plain names
// of letters, digits, '.', '_' and '-', not starting with '.'.
func validFileName(name string) error {
	if name == "" || name[0] == '.' {
		return fmt.Errorf("file name %q", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("file name %q", name)
		}
	}
	return nil
}
