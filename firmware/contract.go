package firmware

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"consoled/api"
	"consoled/hal"
	"consoled/replication"
	"consoled/replication/store"
)

// The service's side of the contract (package api): the engine's types
// mapped into the API's, field by field, so that a change in the engine
// never changes the wire unnoticed. TestStatusMapsEngine fails when the
// engine's Status gains a field that is neither mapped here nor listed as
// not shown.

// status is the console's state as the control API shows it.
func (s *Service) status() api.Status {
	est := s.engine.Status()
	out := engineStatus(est)
	out.LEDs = s.ledStates()
	out.Board = s.board.Name()
	out.Master = s.cfg.Master
	out.Faults = s.stamps.stamp(time.Now(), append(s.faults.list(), out.Faults...))
	out.Copy = s.copies.Copy(est)
	out.Acked = s.acked.Load()
	out.Ack = s.cfg.Ack
	out.Descriptors = descriptors()
	out.RemoteControl = s.cfg.RemoteControl
	out.Resume = s.resumer.status(out.WaitingFor)
	return out
}

// engineStatus maps the engine's status; the service fills in the rest.
func engineStatus(st replication.Status) api.Status {
	out := api.Status{
		Console:     st.Console,
		Role:        string(st.Role),
		Show:        st.Show,
		ShowID:      st.ShowID,
		Epoch:       st.Epoch,
		Epochs:      []api.Epoch{},
		Seq:         st.Seq,
		Stale:       st.Stale,
		Link:        "down",
		Peers:       peersOf(st.Peers),
		Faults:      []api.Fault{},
		Syncing:     st.Syncing,
		Active:      st.Active,
		Listen:      st.Listen,
		NetworkKey:  st.KeyFingerprint,
		AuthRefused: st.AuthRefused,
		FullSyncs:   st.FullSyncs,
		CatchUps:    st.CatchUps,
		Adoptions:   st.Adoptions,

		BadMessages:    st.BadMessages,
		ConnsRefused:   st.ConnsRefused,
		BeaconsRefused: st.BeaconsRefused,
		Merges:         mergesOf(st.Merges),
		WaitingFor:     st.WaitingFor,
		Fence:          st.Fence,
	}
	if h := st.HandOver; h != nil {
		out.HandOver = &api.HandOver{Since: h.Since.UTC(), Seq: h.Seq, Waiting: append([]string{}, h.Waiting...)}
	}
	for _, e := range st.Epochs {
		out.Epochs = append(out.Epochs, api.Epoch{ID: e.ID, FirstSeq: e.FirstSeq})
	}
	for _, msg := range st.ProtocolFaults {
		out.Faults = append(out.Faults, api.Fault{Kind: "protocol", Level: "blink", Message: msg})
	}
	if st.LinkUp {
		out.Link = "up"
	}
	return out
}

// peersOf keeps a nil list nil and an empty one empty: the JSON shows null
// and [] as it always has.
func peersOf(ps []replication.Peer) []api.Peer {
	if ps == nil {
		return nil
	}
	out := make([]api.Peer, 0, len(ps))
	for _, p := range ps {
		out = append(out, api.Peer{Console: p.Console, Role: string(p.Role), Show: p.Show, Seq: p.Seq, Connected: p.Connected, Address: p.Address})
	}
	return out
}

// mergesOf keeps nil lists nil, as peersOf does.
func mergesOf(ms []replication.Merge) []api.Merge {
	if ms == nil {
		return nil
	}
	out := make([]api.Merge, 0, len(ms))
	for _, m := range ms {
		var conflicts []string
		if m.Conflicts != nil {
			conflicts = append([]string{}, m.Conflicts...)
		}
		out = append(out, api.Merge{With: m.With, Time: m.Time, Common: m.Common, Merged: m.Merged, Conflicts: conflicts,
			Unmatched: m.Unmatched, Archive: m.Archive})
	}
	return out
}

// ledStates reads the LEDs back from the board: what the panel shows, not
// what the service meant to show.
func (s *Service) ledStates() api.Panel {
	m := api.Panel{}
	for _, name := range hal.LEDNames {
		if led, ok := s.board.LED(name); ok {
			m[name] = led.State().String()
		}
	}
	return m
}

// kindOf maps the engine's and store's errors to the API's kinds.
func kindOf(err error) api.Kind {
	switch {
	case errors.Is(err, replication.ErrBadInput):
		return api.KindBadInput
	case errors.Is(err, replication.ErrRefused):
		return api.KindRefused
	case errors.Is(err, replication.ErrNotLoggedOn):
		return api.KindNotLoggedOn
	case errors.Is(err, replication.ErrOutcomeUnknown):
		return api.KindOutcomeUnknown
	case errors.Is(err, replication.ErrNoActive):
		return api.KindNoActive
	case errors.Is(err, store.ErrDiskFull):
		return api.KindDiskFull
	}
	return api.KindInternal
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// writeError answers err with its kind's status; consolectl maps the kind
// to its exit status.
func writeError(w http.ResponseWriter, err error) {
	writeErrorKind(w, kindOf(err), err.Error())
}

func writeErrorKind(w http.ResponseWriter, kind api.Kind, msg string) {
	writeErrorStatus(w, kind.Status(), kind, msg)
}

// writeErrorStatus answers with a status other than the kind's own.
func writeErrorStatus(w http.ResponseWriter, status int, kind api.Kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.ErrorAnswer{Error: msg, Kind: kind})
}
