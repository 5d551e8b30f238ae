package wire

import (
	"fmt"
)

// ProtocolVersion is the version of the messages below. Bump it whenever an
// encoding changes; the handshake refuses a peer whose version is not
// Compatible, so encodings need no per-message versioning. It also stands
// for the discovery beacon's format (replication/discovery.go): consoles
// that cannot read each other's beacons are told so by the handshake
// instead of silently not finding each other. Version 4: beacons carry
// the sender's address and time; JoinMerge; object records in the copies a
// full sync ships.
const ProtocolVersion uint16 = 4

// Compatible reports whether consoles speaking versions a and b can talk.
func Compatible(a, b uint16) bool { return a == b }

// Limits, checked by both the encoder (so we never send what a peer refuses)
// and the decoder.
const (
	MaxString = 256     // console IDs, addresses, show names, epoch IDs, kinds, file names
	MaxText   = 4 << 10 // Reason, Msg, Err: human-readable text
	MaxKey    = 256     // object key (store.MaxKeyLen)
	MaxValue  = 1 << 20 // object value (store.MaxValueLen)
	MaxChunk  = 1 << 20 // SnapChunk.Data
	MaxItems  = 65536   // edits per Edits, ops per Forward
	MaxEpochs = 100000  // epoch history length
	MaxFiles  = 4096    // files of a snapshot (SnapEnd.Files)
)

// MsgType is a message's type byte on the wire.
type MsgType uint8

// Type bytes. Never reuse or renumber one. The frame format, and the types
// and encodings of Hello, HelloReply and Reject, are frozen across protocol
// versions (later versions may only append fields to them): they are how two
// versions find out that they cannot talk, and say so.
const (
	TypeHello        MsgType = 1
	TypeHelloReply   MsgType = 2
	TypeReject       MsgType = 3
	TypeError        MsgType = 4
	TypeState        MsgType = 5
	TypeJoin         MsgType = 6
	TypeJoinReply    MsgType = 7
	TypeEdits        MsgType = 8
	TypeAck          MsgType = 9
	TypeForward      MsgType = 10
	TypeForwardReply MsgType = 11
	TypeSnapBegin    MsgType = 12
	TypeSnapFile     MsgType = 13
	TypeSnapChunk    MsgType = 14
	TypeSnapEnd      MsgType = 15
	TypeLeaving      MsgType = 16
)

var typeNames = map[MsgType]string{
	TypeHello: "Hello", TypeHelloReply: "HelloReply", TypeReject: "Reject",
	TypeError: "Error", TypeState: "State", TypeJoin: "Join",
	TypeJoinReply: "JoinReply", TypeEdits: "Edits", TypeAck: "Ack",
	TypeForward: "Forward", TypeForwardReply: "ForwardReply",
	TypeSnapBegin: "SnapBegin", TypeSnapFile: "SnapFile",
	TypeSnapChunk: "SnapChunk", TypeSnapEnd: "SnapEnd", TypeLeaving: "Leaving",
}

func (t MsgType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Msg is a protocol message. The message types are the pointer types below
// (*Hello, *Edits, ...); ReadMsg and Decode return those.
type Msg interface {
	Type() MsgType
	encode(e *encoder)
}

// Hello is the first message each side sends.
type Hello struct {
	Version uint16 // ProtocolVersion of the sender
	Console string // the sender's console ID
	Listen  string // the sender's peer address, for others to dial back
	Master  bool   // the sender is the designated master console
	KeyFP   string // Key.Fingerprint of the sender's network key
}

// HelloReply answers a Hello: OK, or a refusal with its reason.
type HelloReply struct {
	Version uint16
	Console string
	OK      bool
	Reason  string
}

// Reject refuses the connection (or a request) and says why; the sender
// closes the connection after it.
type Reject struct {
	Reason string
}

// Error reports a failure that does not end the connection.
type Error struct {
	Kind string // ErrorEnded, or what failed ("join")
	Msg  string
}

// ErrorEnded is the Kind of an Error that ends an exchange on purpose: the
// sender logged off or stepped down. The receiver treats it as routine.
const ErrorEnded = "ended"

// Epoch is one entry of a copy's epoch history: the epoch began at FirstSeq.
type Epoch struct {
	ID       string
	FirstSeq uint64
}

// State is a console's heartbeat and status, sent about every 100 ms.
type State struct {
	Console string
	Role    string
	Show    string
	ShowID  string
	Epochs  []Epoch
	Seq     uint64
	Stale   bool
	Master  bool
	Leaving bool
	// Following is the active this backup applies, "" when it follows none
	// (it lost its active and is taking part in choosing the next one).
	Following string
}

// Join is a backup asking the active to join its show, or (CopyOnly) a
// console about to launch asking a logged-off one for its newer copy.
type Join struct {
	Show     string
	ShowID   string
	Epochs   []Epoch
	Seq      uint64
	CopyOnly bool
	// FromBackup: a CopyOnly join the show's active sent to this console, a
	// live backup of the show, to take its copy from (JoinElsewhere).
	FromBackup bool
}

// JoinReply modes.
const (
	JoinCatchUp  uint8 = 1 // Edits follow from the joiner's Seq
	JoinSnapshot uint8 = 2 // a snapshot follows
	JoinUpToDate uint8 = 3 // nothing to send
	JoinRefused  uint8 = 4 // see Reason
	JoinAdopt    uint8 = 5 // the joiner's copy is newer: it sends its edits after Seq, then an empty Edits; another JoinReply follows
	// JoinMerge: the copies differ after Seq (they diverged, are different
	// shows of one name, or the joiner's newer edits are no longer in its
	// log): the joiner sends the last state of every object it set or
	// deleted after Seq (Edit.Seq is the seq of that write, Epoch empty),
	// each key once, then an empty Edits; another JoinReply follows.
	JoinMerge uint8 = 6
	// JoinElsewhere: take the full copy from the live backup Reason names
	// (a CopyOnly join with FromBackup), then join again: the active is
	// busy sending copies, and its backups hold the show too.
	JoinElsewhere uint8 = 7
	// JoinBusy: the active is sending as many copies as it sends at once
	// and no backup can send one yet: join again in a moment.
	JoinBusy uint8 = 8
)

// JoinReply is the active's answer to Join. Mode is not checked by the
// codec, so the engine may add modes (with a protocol version bump).
type JoinReply struct {
	Mode   uint8
	Reason string
	ShowID string
	Epochs []Epoch
	Seq    uint64
}

// Edit is one ordered edit of the show.
type Edit struct {
	Seq    uint64
	Epoch  string
	Key    string
	Value  []byte // nil when empty
	Delete bool
}

// Edits carries ordered edits from the active to a backup. One message must
// fit a frame (MaxFrame): batch edits by EncodedSize.
type Edits struct {
	Edits []Edit
}

// Ack tells the active that a backup holds every edit through Seq durably.
type Ack struct {
	Seq uint64
}

// Op is one operation of an operator's edit.
type Op struct {
	Key    string
	Value  []byte // nil when empty
	Delete bool
}

// Forward carries an operator's edit from a backup to the active.
type Forward struct {
	ReqID uint64
	Ops   []Op
}

// ForwardReply answers Forward: the edit's Seq, or an error.
type ForwardReply struct {
	ReqID   uint64
	Seq     uint64
	Err     string
	ErrKind string
}

// SnapBegin starts a snapshot transfer of Show: SnapFile sections follow,
// then SnapEnd. Bytes is about what the sender will send, for the
// receiver's free-space check: the sender starts on the files it has
// before its checkpoint is complete, so the total is not known yet.
type SnapBegin struct {
	Show  string
	Bytes uint64
}

// SnapFile starts one file of the snapshot; SnapChunk messages totalling Size
// bytes follow. Name is as the sender wrote it: the receiver must check it is
// a plain local name (filepath.IsLocal) before using it.
type SnapFile struct {
	Name string
	Size uint64
}

// SnapChunk is a piece of the current snapshot file, at most MaxChunk bytes.
type SnapChunk struct {
	Data []byte
}

// SnapEnd ends a snapshot. The copy is the files named in Files, each of
// which was sent whole, and it holds the lineage ShowID, Epochs, Seq. A file
// sent but not named is one the sender's store dropped (compacted away)
// while the copy was being made: the receiver deletes it.
type SnapEnd struct {
	ShowID string
	Epochs []Epoch
	Seq    uint64
	Files  []string
}

// Leaving announces a graceful log-off: the receiver need not wait for
// missed heartbeats.
type Leaving struct{}

func (*Hello) Type() MsgType        { return TypeHello }
func (*HelloReply) Type() MsgType   { return TypeHelloReply }
func (*Reject) Type() MsgType       { return TypeReject }
func (*Error) Type() MsgType        { return TypeError }
func (*State) Type() MsgType        { return TypeState }
func (*Join) Type() MsgType         { return TypeJoin }
func (*JoinReply) Type() MsgType    { return TypeJoinReply }
func (*Edits) Type() MsgType        { return TypeEdits }
func (*Ack) Type() MsgType          { return TypeAck }
func (*Forward) Type() MsgType      { return TypeForward }
func (*ForwardReply) Type() MsgType { return TypeForwardReply }
func (*SnapBegin) Type() MsgType    { return TypeSnapBegin }
func (*SnapFile) Type() MsgType     { return TypeSnapFile }
func (*SnapChunk) Type() MsgType    { return TypeSnapChunk }
func (*SnapEnd) Type() MsgType      { return TypeSnapEnd }
func (*Leaving) Type() MsgType      { return TypeLeaving }

// AppendMsg appends m's type byte and payload (a frame without its length)
// to dst. It fails, appending nothing, when a field is over its limit.
func AppendMsg(dst []byte, m Msg) ([]byte, error) {
	if m == nil {
		return dst, fmt.Errorf("wire: encoding: nil message")
	}
	e := encoder{b: append(dst, byte(m.Type()))}
	m.encode(&e)
	if e.err != nil {
		return dst, fmt.Errorf("%w (in %s)", e.err, m.Type())
	}
	return e.b, nil
}

// Decode decodes a type byte and payload as produced by AppendMsg. Errors
// wrap ErrMalformed. Byte fields of the result alias b.
func Decode(b []byte) (Msg, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	m := newMsg(MsgType(b[0]))
	if m == nil {
		return nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, b[0])
	}
	d := decoder{b: b[1:]}
	decodeInto(m, &d)
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, m.Type())
	}
	return m, nil
}

func newMsg(t MsgType) Msg {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypeHelloReply:
		return new(HelloReply)
	case TypeReject:
		return new(Reject)
	case TypeError:
		return new(Error)
	case TypeState:
		return new(State)
	case TypeJoin:
		return new(Join)
	case TypeJoinReply:
		return new(JoinReply)
	case TypeEdits:
		return new(Edits)
	case TypeAck:
		return new(Ack)
	case TypeForward:
		return new(Forward)
	case TypeForwardReply:
		return new(ForwardReply)
	case TypeSnapBegin:
		return new(SnapBegin)
	case TypeSnapFile:
		return new(SnapFile)
	case TypeSnapChunk:
		return new(SnapChunk)
	case TypeSnapEnd:
		return new(SnapEnd)
	case TypeLeaving:
		return new(Leaving)
	}
	return nil
}

// Encodings, field by field in declaration order. Keep each encode and
// decode pair next to each other.

func (m *Hello) encode(e *encoder) {
	e.u16(m.Version)
	e.str("Console", m.Console, MaxString)
	e.str("Listen", m.Listen, MaxString)
	e.bool(m.Master)
	e.str("KeyFP", m.KeyFP, MaxString)
}

func (m *Hello) decode(d *decoder) {
	m.Version = d.u16("Version")
	m.Console = d.str("Console", MaxString)
	m.Listen = d.str("Listen", MaxString)
	m.Master = d.bool("Master")
	m.KeyFP = d.str("KeyFP", MaxString)
}

func (m *HelloReply) encode(e *encoder) {
	e.u16(m.Version)
	e.str("Console", m.Console, MaxString)
	e.bool(m.OK)
	e.str("Reason", m.Reason, MaxText)
}

func (m *HelloReply) decode(d *decoder) {
	m.Version = d.u16("Version")
	m.Console = d.str("Console", MaxString)
	m.OK = d.bool("OK")
	m.Reason = d.str("Reason", MaxText)
}

func (m *Reject) encode(e *encoder) { e.str("Reason", m.Reason, MaxText) }
func (m *Reject) decode(d *decoder) { m.Reason = d.str("Reason", MaxText) }

func (m *Error) encode(e *encoder) {
	e.str("Kind", m.Kind, MaxString)
	e.str("Msg", m.Msg, MaxText)
}

func (m *Error) decode(d *decoder) {
	m.Kind = d.str("Kind", MaxString)
	m.Msg = d.str("Msg", MaxText)
}

func encodeEpochs(e *encoder, eps []Epoch) {
	e.count("Epochs", len(eps), MaxEpochs)
	if e.err != nil {
		return
	}
	for _, ep := range eps {
		e.str("Epoch.ID", ep.ID, MaxString)
		e.uvarint(ep.FirstSeq)
	}
}

func decodeEpochs(d *decoder) []Epoch {
	n := d.count("Epochs", MaxEpochs, 2)
	if n == 0 {
		return nil
	}
	eps := make([]Epoch, n)
	for i := range eps {
		eps[i].ID = d.str("Epoch.ID", MaxString)
		eps[i].FirstSeq = d.uvarint("Epoch.FirstSeq")
		if d.err != nil {
			return nil
		}
	}
	return eps
}

func (m *State) encode(e *encoder) {
	e.str("Console", m.Console, MaxString)
	e.str("Role", m.Role, MaxString)
	e.str("Show", m.Show, MaxString)
	e.str("ShowID", m.ShowID, MaxString)
	encodeEpochs(e, m.Epochs)
	e.uvarint(m.Seq)
	e.bool(m.Stale)
	e.bool(m.Master)
	e.bool(m.Leaving)
	e.str("Following", m.Following, MaxString)
}

func (m *State) decode(d *decoder) {
	m.Console = d.str("Console", MaxString)
	m.Role = d.str("Role", MaxString)
	m.Show = d.str("Show", MaxString)
	m.ShowID = d.str("ShowID", MaxString)
	m.Epochs = decodeEpochs(d)
	m.Seq = d.uvarint("Seq")
	m.Stale = d.bool("Stale")
	m.Master = d.bool("Master")
	m.Leaving = d.bool("Leaving")
	m.Following = d.str("Following", MaxString)
}

func (m *Join) encode(e *encoder) {
	e.str("Show", m.Show, MaxString)
	e.str("ShowID", m.ShowID, MaxString)
	encodeEpochs(e, m.Epochs)
	e.uvarint(m.Seq)
	e.bool(m.CopyOnly)
	e.bool(m.FromBackup)
}

func (m *Join) decode(d *decoder) {
	m.Show = d.str("Show", MaxString)
	m.ShowID = d.str("ShowID", MaxString)
	m.Epochs = decodeEpochs(d)
	m.Seq = d.uvarint("Seq")
	m.CopyOnly = d.bool("CopyOnly")
	m.FromBackup = d.bool("FromBackup")
}

func (m *JoinReply) encode(e *encoder) {
	e.u8(m.Mode)
	e.str("Reason", m.Reason, MaxText)
	e.str("ShowID", m.ShowID, MaxString)
	encodeEpochs(e, m.Epochs)
	e.uvarint(m.Seq)
}

func (m *JoinReply) decode(d *decoder) {
	m.Mode = d.u8("Mode")
	m.Reason = d.str("Reason", MaxText)
	m.ShowID = d.str("ShowID", MaxString)
	m.Epochs = decodeEpochs(d)
	m.Seq = d.uvarint("Seq")
}

// minEditSize is the smallest encoding of an Edit: five one-byte fields.
const minEditSize = 5

func (ed *Edit) encode(e *encoder) {
	e.uvarint(ed.Seq)
	e.str("Edit.Epoch", ed.Epoch, MaxString)
	e.str("Edit.Key", ed.Key, MaxKey)
	e.bytes("Edit.Value", ed.Value, MaxValue)
	e.bool(ed.Delete)
}

func (ed *Edit) decode(d *decoder) {
	ed.Seq = d.uvarint("Edit.Seq")
	ed.Epoch = d.str("Edit.Epoch", MaxString)
	ed.Key = d.str("Edit.Key", MaxKey)
	ed.Value = d.bytes("Edit.Value", MaxValue)
	ed.Delete = d.bool("Edit.Delete")
}

// EncodedSize is the number of bytes ed adds to an Edits message, for
// batching under MaxFrame.
func (ed Edit) EncodedSize() int {
	return uvarintLen(ed.Seq) + lenPrefixed(len(ed.Epoch)) + lenPrefixed(len(ed.Key)) + lenPrefixed(len(ed.Value)) + 1
}

func lenPrefixed(n int) int { return uvarintLen(uint64(n)) + n }

// EditsOverhead bounds the bytes an Edits frame adds besides its edits'
// EncodedSize: a batch fits a frame when EditsOverhead plus the sum of its
// edits' sizes is at most MaxFrame.
const EditsOverhead = 4 + 1 + 3 // length, type, count (≤ 65536 takes 3 bytes)

func (m *Edits) encode(e *encoder) {
	e.count("Edits", len(m.Edits), MaxItems)
	if e.err != nil {
		return
	}
	for i := range m.Edits {
		m.Edits[i].encode(e)
	}
}

func (m *Edits) decode(d *decoder) {
	n := d.count("Edits", MaxItems, minEditSize)
	if n == 0 {
		return
	}
	m.Edits = make([]Edit, n)
	for i := range m.Edits {
		m.Edits[i].decode(d)
		if d.err != nil {
			m.Edits = nil
			return
		}
	}
}

func (m *Ack) encode(e *encoder) { e.uvarint(m.Seq) }
func (m *Ack) decode(d *decoder) { m.Seq = d.uvarint("Seq") }

const minOpSize = 3

func (op *Op) encode(e *encoder) {
	e.str("Op.Key", op.Key, MaxKey)
	e.bytes("Op.Value", op.Value, MaxValue)
	e.bool(op.Delete)
}

func (op *Op) decode(d *decoder) {
	op.Key = d.str("Op.Key", MaxKey)
	op.Value = d.bytes("Op.Value", MaxValue)
	op.Delete = d.bool("Op.Delete")
}

// EncodedSize is the number of bytes op adds to a Forward message.
func (op Op) EncodedSize() int {
	return lenPrefixed(len(op.Key)) + lenPrefixed(len(op.Value)) + 1
}

func (m *Forward) encode(e *encoder) {
	e.uvarint(m.ReqID)
	e.count("Ops", len(m.Ops), MaxItems)
	if e.err != nil {
		return
	}
	for i := range m.Ops {
		m.Ops[i].encode(e)
	}
}

func (m *Forward) decode(d *decoder) {
	m.ReqID = d.uvarint("ReqID")
	n := d.count("Ops", MaxItems, minOpSize)
	if n == 0 {
		return
	}
	m.Ops = make([]Op, n)
	for i := range m.Ops {
		m.Ops[i].decode(d)
		if d.err != nil {
			m.Ops = nil
			return
		}
	}
}

func (m *ForwardReply) encode(e *encoder) {
	e.uvarint(m.ReqID)
	e.uvarint(m.Seq)
	e.str("Err", m.Err, MaxText)
	e.str("ErrKind", m.ErrKind, MaxString)
}

func (m *ForwardReply) decode(d *decoder) {
	m.ReqID = d.uvarint("ReqID")
	m.Seq = d.uvarint("Seq")
	m.Err = d.str("Err", MaxText)
	m.ErrKind = d.str("ErrKind", MaxString)
}

func (m *SnapBegin) encode(e *encoder) {
	e.str("Show", m.Show, MaxString)
	e.uvarint(m.Bytes)
}

func (m *SnapBegin) decode(d *decoder) {
	m.Show = d.str("Show", MaxString)
	m.Bytes = d.uvarint("Bytes")
}

func (m *SnapFile) encode(e *encoder) {
	e.str("Name", m.Name, MaxString)
	e.uvarint(m.Size)
}

func (m *SnapFile) decode(d *decoder) {
	m.Name = d.str("Name", MaxString)
	m.Size = d.uvarint("Size")
}

func (m *SnapChunk) encode(e *encoder) { e.bytes("Data", m.Data, MaxChunk) }
func (m *SnapChunk) decode(d *decoder) { m.Data = d.bytes("Data", MaxChunk) }

func (m *SnapEnd) encode(e *encoder) {
	e.str("ShowID", m.ShowID, MaxString)
	encodeEpochs(e, m.Epochs)
	e.uvarint(m.Seq)
	e.count("Files", len(m.Files), MaxFiles)
	if e.err != nil {
		return
	}
	for _, f := range m.Files {
		e.str("File", f, MaxString)
	}
}

func (m *SnapEnd) decode(d *decoder) {
	m.ShowID = d.str("ShowID", MaxString)
	m.Epochs = decodeEpochs(d)
	m.Seq = d.uvarint("Seq")
	n := d.count("Files", MaxFiles, 1)
	if n == 0 {
		return
	}
	m.Files = make([]string, n)
	for i := range m.Files {
		m.Files[i] = d.str("File", MaxString)
		if d.err != nil {
			m.Files = nil
			return
		}
	}
}

func (*Leaving) encode(*encoder) {}
func (*Leaving) decode(*decoder) {}

// decodeInto fills m from d. Every message type has a decode method next to
// its encode; this keeps the unexported method out of the Msg interface.
func decodeInto(m Msg, d *decoder) {
	m.(interface{ decode(*decoder) }).decode(d)
}
