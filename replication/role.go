package replication

import "slices"

// The role state machine. A console's role changes only through become,
// with e.mu held; what to do next is decided by decide (decide.go), and the
// launch and log-off procedures (engine.go) carry the operator's wishes.
//
//	off     ── launch, no active on the network ─────────▶ active
//	off     ── launch, an active serves the show ────────▶ syncing
//	syncing ── the copy is complete ─────────────────────▶ backup
//	backup, syncing ── the active went; chosen (decide) ─▶ active
//	active  ── an active further ahead met (decide) ─────▶ syncing
//	any     ── log-off, a join that failed, a copy that
//	           could not be opened ──────────────────────▶ off
var transitions = map[Role][]Role{
	RoleOff:     {RoleActive, RoleSyncing},
	RoleSyncing: {RoleBackup, RoleActive, RoleOff},
	RoleBackup:  {RoleActive, RoleOff},
	RoleActive:  {RoleSyncing, RoleOff},
}

// become changes the role. A change the state machine does not have is a
// bug; it is logged, and made anyway, since the caller's state already
// assumes it.
func (e *Engine) become(to Role, why string) {
	from := e.role
	if from == to {
		return
	}
	if !slices.Contains(transitions[from], to) {
		e.log.Error("role change outside the state machine", "from", from, "to", to, "why", why)
	}
	e.role = to
	e.log.Debug("role changed", "from", from, "to", to, "why", why)
}
