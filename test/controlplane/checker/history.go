package main

// Parsing of the robustness history (test/robustness/README.md, "History
// format") into operations and per-client watch streams. Anything the README
// does not allow (an unparsable line, a completion without its invoke, two
// completions for one invoke, a missing result field) is bad input: the
// checker refuses to judge rather than guess.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Status is the recorded outcome of an operation.
type Status int

const (
	StatusOK      Status = iota
	StatusFail           // definitely not applied
	StatusUnknown        // may or may not have been applied (also: no completion)
)

func (s Status) String() string {
	return [...]string{"ok", "fail", "unknown"}[s]
}

// Pending is the Return time of an operation that never completed for sure:
// it stays pending to the end of the history (porcupine convention).
const Pending = int64(math.MaxInt64)

// ExpectKind is the kind of condition a conditional write carries.
type ExpectKind int

const (
	ExpectNone   ExpectKind = iota // unconditional
	ExpectAbsent                   // create-only
	ExpectIndex                    // the key must exist with this lastIndex
)

// Expect is a write condition: `prev` of atomicPut/atomicDelete or `expect`
// of a batch operation.
type Expect struct {
	Kind  ExpectKind
	Index int64
}

func (e Expect) String() string {
	switch e.Kind {
	case ExpectAbsent:
		return "absent"
	case ExpectIndex:
		return strconv.FormatInt(e.Index, 10)
	}
	return ""
}

// Mutation is one key change. Every write op is a list of them, applied in
// order and all-or-nothing: put = [put], atomicPut = [put with condition],
// delete = [delete], atomicDelete = [delete with condition], batch = its ops.
type Mutation struct {
	Delete bool
	Key    string
	Value  string // puts only
	Expect Expect
	// TtlMs (puts only, 0 = none): the key expires that long after the
	// write; a sweeper may delete it from the write's invoke + TtlMs on.
	TtlMs int64
	// Session (puts only, "" = none): the session the key is bound to; a
	// sweeper may delete it from its session's VanishFrom on.
	Session string
	// ExpireAt (puts only, 0 = never) is the earliest time the key this
	// put wrote may vanish with no operation of the history: invoke + TtlMs,
	// or the session's VanishFrom. Set by ParseHistory.
	ExpireAt int64
}

// Session is a session of the history (issue 20): opened by a client
// (sessionOpen, ok with its id), then closed (sessionClose), abandoned
// (sessionAbandon: its owner stopped renewing without closing it; a
// SIGKILLed owner abandons its sessions without a record) or lost
// (sessionLost: its owner's renewals failed past the renew deadline, or
// the Lease was taken or deleted).
type Session struct {
	ID     string
	Client int
	TtlMs  int64
	Open   *Op // the sessionOpen that returned ok with this id
	Close  *Op // the first sessionClose invoked, if any (its completion does not matter)
	// Abandon is the sessionAbandon, if any: for people and the summary;
	// the bound below does not use it (see VanishFrom).
	Abandon *Op
	// Lost is the first sessionLost, if any: the owner knew then that it
	// no longer held the session, and releases its Lease when it can.
	Lost *Op
}

// VanishFrom is the earliest time a key bound to the session may vanish
// with no operation of the history: the close's invoke, the loss's
// invoke, or the open's invoke + ttlMs, whichever comes first.
//
// Why these and nothing tighter. A correct store deletes a session's keys
// (1) in the commit of close(), which follows its invoke; or (2) when a
// sweeper has seen the session's Lease released or gone, which only
// close() (after its invoke), the owner after it lost the session (its
// lock's elector releases the Lease once it reaches the API server again;
// the loss is recorded before that release is sent) or a sweeper (after
// (3)) does; or (3) when a
// sweeper has seen the Lease's current version unchanged for ttlMs on its
// own clock. In (3) the sweeper first saw that version after it landed,
// and it landed no earlier than the invoke of the request that wrote it;
// the first such request is the acquisition inside sessionOpen, so (3)
// never happens before the open's invoke + ttlMs. A tighter bound for an
// abandoned session, "the owner's last renewal + ttlMs", would need the
// invoke of the last renewal that landed, which the history cannot know:
// renewals are the session's own requests, unrecorded; a renewal can fail
// for a while before the owner is killed or frozen (then a correct sweeper
// ends the session ttlMs after an earlier renewal, and a bound taken from
// the kill would call that early: a false violation); and a renewal held
// by a black hole can land late. So the bound errs the only safe way:
// never later than a correct store can delete (no false violation), at the
// cost of not catching a sweeper that ends a live, renewed session
// between open + ttlMs and its close. The harness keeps sessions' lives
// shorter than their TTL (client.ts), so for a closed session the close
// decides, and an early end of a live session is caught.
func (s *Session) VanishFrom() int64 {
	from := s.Open.Invoke + s.TtlMs*1_000_000
	for _, end := range []*Op{s.Close, s.Lost} {
		if end != nil && end.Invoke < from {
			from = end.Invoke
		}
	}
	return from
}

// Op is one invoked operation with its completion.
type Op struct {
	ID         string
	Client     int
	Kind       string // get, put, delete, atomicPut, atomicDelete, batch, deleteBucket, createBucket, editBucket
	Key        string // get only (writes use Muts)
	Consistent bool   // get only
	Muts       []Mutation
	// By is who acted on the bucket (bucket ops): "kubekv" or "hand".
	By string
	// ForeignPrefix (editBucket): the hand edit touches only data keys with
	// this prefix, which no workload operation uses; the checkers ignore them.
	ForeignPrefix string

	Invoke int64
	Return int64 // Pending when unknown
	Status Status
	Code   string // fail / unknown
	// Cause is what the store gave as the cause of a fail / unknown (diagnostics).
	Cause string

	// Result of an ok completion; which fields are meaningful depends on Kind.
	Found     bool   // get
	Value     string // get
	LastIndex int64  // get, put, atomicPut
	Deleted   bool   // delete
	Revision  int64  // batch
}

// IsWrite reports whether the op may change the store's keys through the
// store (a bucket op is not a store write; see IsBucketOp).
func (o *Op) IsWrite() bool { return o.Kind != "get" && !o.IsBucketOp() }

// IsBucketOp reports whether the op acts on the bucket as a whole, from
// outside the workload's stores: deleting it (every key goes at one
// instant), creating it again (empty), or editing it by hand (foreign keys
// and annotations only).
func (o *Op) IsBucketOp() bool {
	switch o.Kind {
	case "deleteBucket", "createBucket", "editBucket":
		return true
	}
	return false
}

// Pair is a key with its value and per-key revision.
type Pair struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	LastIndex int64  `json:"lastIndex"`
	// Size is set for a large value (README: the value is the id of its
	// write followed by filler); it is folded into Value when parsed.
	Size *int64 `json:"size,omitempty"`
}

// sized is the value as the checker compares it: a large value's id and its
// length in bytes, so a value cut short or padded reads as another value
// (one nobody wrote).
func sized(value string, size *int64) string {
	if size == nil {
		return value
	}
	return fmt.Sprintf("%s#%dB", value, *size)
}

func sizedPairs(ps []Pair) []Pair {
	for i := range ps {
		ps[i].Value = sized(ps[i].Value, ps[i].Size)
		ps[i].Size = nil
	}
	return ps
}

// WatchRecord is one record of a client's watchTree(”) stream: Type is
// "snapshot", "put", "delete" (events), "error" (watch-error) or "start"
// (watch-start).
type WatchRecord struct {
	Client    int
	At        int64
	Type      string
	Pairs     []Pair // snapshot
	Key       string // put, delete
	Value     string // put
	LastIndex int64  // put
	Revision  int64  // snapshot, put, delete
	Code      string // error
}

// Final is the orchestrator's consistent read of every key after healing.
type Final struct {
	At       int64
	Pairs    []Pair
	Revision int64
}

// History is a parsed history file.
type History struct {
	Ops []*Op // in invoke order
	// Foreign are the key prefixes of hand edits (editBucket): such keys are
	// not the workload's, and are dropped from every observation.
	Foreign   []string
	Watches   map[int][]WatchRecord // per client, in time order
	Final     *Final                // nil when the orchestrator wrote none
	ClientEnd map[int]int64         // client -> time of its client-end
	// Sessions by id. Session operations are not store operations: they
	// are taken out of Ops once parsed, and only bound when keys may vanish.
	Sessions map[string]*Session
}

// nanos is a CLOCK_MONOTONIC time: a decimal string per the README (a JSON
// number is accepted too).
type nanos int64

func (n *nanos) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad time %s", b)
	}
	*n = nanos(v)
	return nil
}

// prev is a condition in the history: a number or the string "absent".
type prev struct {
	set bool
	e   Expect
}

func (p *prev) UnmarshalJSON(b []byte) error {
	p.set = true
	if string(b) == `"absent"` {
		p.e = Expect{Kind: ExpectAbsent}
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf(`condition must be a number or "absent", got %s`, b)
	}
	p.e = Expect{Kind: ExpectIndex, Index: v}
	return nil
}

type rawBatchOp struct {
	Op      string  `json:"op"`
	Key     *string `json:"key"`
	Value   *string `json:"value"`
	Size    *int64  `json:"size"`
	Expect  prev    `json:"expect"`
	TtlMs   *int64  `json:"ttlMs"`
	Session *string `json:"session"`
}

type rawResult struct {
	Found     *bool   `json:"found"`
	Value     *string `json:"value"`
	LastIndex *int64  `json:"lastIndex"`
	Deleted   *bool   `json:"deleted"`
	Revision  *int64  `json:"revision"`
	Size      *int64  `json:"size"`
	Session   *string `json:"session"`
}

// rawRecord is the union of every line's fields.
type rawRecord struct {
	T          string       `json:"t"`
	ID         string       `json:"id"`
	Client     *int         `json:"client"`
	At         *nanos       `json:"at"`
	Op         string       `json:"op"`
	Key        *string      `json:"key"`
	Value      *string      `json:"value"`
	Consistent *bool        `json:"consistent"`
	Prev       prev         `json:"prev"`
	Ops        []rawBatchOp `json:"ops"`
	Result     *rawResult   `json:"result"`
	Code       string       `json:"code"`
	Type       string       `json:"type"`
	Pairs      []Pair       `json:"pairs"`
	LastIndex  *int64       `json:"lastIndex"`
	Revision   *int64       `json:"revision"`
	Size       *int64       `json:"size"`
	By         string       `json:"by"`
	Foreign    string       `json:"foreignPrefix"`
	Cause      string       `json:"cause"`
	TtlMs      *int64       `json:"ttlMs"`
	Session    *string      `json:"session"`
}

// ParseHistory reads JSON lines. Records may come in any order across
// clients; each client's watch records are put in time order (stable, so
// records with equal times keep their file order).
func ParseHistory(r io.Reader) (*History, error) {
	h := &History{Watches: map[int][]WatchRecord{}, ClientEnd: map[int]int64{}, Sessions: map[string]*Session{}}
	byID := map[string]*Op{}
	completed := map[string]bool{}
	type completion struct {
		line int
		rec  rawRecord
	}
	var completions []completion

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec rawRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("line %d: %v", lineNo, err)
		}
		if rec.At == nil {
			return nil, fmt.Errorf("line %d: no \"at\"", lineNo)
		}
		at := int64(*rec.At)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("line %d (%s): %s", lineNo, rec.T, fmt.Sprintf(format, args...))
		}
		switch rec.T {
		case "invoke":
			if rec.ID == "" || rec.Client == nil {
				return nil, bad("invoke needs id and client")
			}
			if byID[rec.ID] != nil {
				return nil, bad("duplicate op id %q", rec.ID)
			}
			op, err := parseInvoke(&rec, at)
			if err != nil {
				return nil, bad("%v", err)
			}
			byID[rec.ID] = op
			h.Ops = append(h.Ops, op)
		case "ok", "fail", "unknown":
			completions = append(completions, completion{lineNo, rec})
		case "watch", "watch-error", "watch-start":
			if rec.Client == nil {
				return nil, bad("no client")
			}
			w := WatchRecord{Client: *rec.Client, At: at, Code: rec.Code}
			switch rec.T {
			case "watch-error":
				w.Type = "error"
			case "watch-start":
				w.Type = "start"
			default:
				w.Type = rec.Type
				if rec.Revision == nil {
					return nil, bad("watch event without revision")
				}
				w.Revision = *rec.Revision
				switch rec.Type {
				case "snapshot":
					w.Pairs = sizedPairs(rec.Pairs)
				case "put":
					if rec.Key == nil || rec.Value == nil || rec.LastIndex == nil {
						return nil, bad("watch put needs key, value, lastIndex")
					}
					w.Key, w.Value, w.LastIndex = *rec.Key, sized(*rec.Value, rec.Size), *rec.LastIndex
				case "delete":
					if rec.Key == nil {
						return nil, bad("watch delete needs key")
					}
					w.Key = *rec.Key
				default:
					return nil, bad("unknown watch type %q", rec.Type)
				}
			}
			h.Watches[w.Client] = append(h.Watches[w.Client], w)
		case "final":
			if h.Final != nil {
				return nil, bad("second final record")
			}
			f := &Final{At: at, Pairs: sizedPairs(rec.Pairs)}
			if rec.Revision != nil {
				f.Revision = *rec.Revision
			}
			h.Final = f
		case "client-end":
			if rec.Client == nil {
				return nil, bad("no client")
			}
			h.ClientEnd[*rec.Client] = at
		default:
			return nil, bad("unknown record type")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}

	// Completions are matched after the whole file is read: a merged file
	// need not put an invoke before its completion.
	for _, c := range completions {
		rec := c.rec
		op := byID[rec.ID]
		if op == nil {
			return nil, fmt.Errorf("line %d: %s for unknown op id %q", c.line, rec.T, rec.ID)
		}
		if completed[rec.ID] {
			return nil, fmt.Errorf("line %d: second completion for op %q", c.line, rec.ID)
		}
		completed[rec.ID] = true
		if err := complete(op, &rec); err != nil {
			return nil, fmt.Errorf("line %d: op %s: %v", c.line, rec.ID, err)
		}
	}
	sort.SliceStable(h.Ops, func(i, j int) bool { return h.Ops[i].Invoke < h.Ops[j].Invoke })
	if err := h.bindExpiries(); err != nil {
		return nil, err
	}
	for c, ws := range h.Watches {
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].At < ws[j].At })
		h.Watches[c] = ws
	}
	if err := h.dropForeign(); err != nil {
		return nil, err
	}
	return h, nil
}

// IsForeign reports whether key belongs to the hand edits, not the workload.
func (h *History) IsForeign(key string) bool {
	for _, p := range h.Foreign {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// dropForeign removes the hand edits' keys from every observation. A
// workload operation on such a key is bad input: the model does not know
// what the hand edits wrote.
func (h *History) dropForeign() error {
	for _, op := range h.Ops {
		if op.Kind == "editBucket" && op.ForeignPrefix != "" && !slices.Contains(h.Foreign, op.ForeignPrefix) {
			h.Foreign = append(h.Foreign, op.ForeignPrefix)
		}
	}
	if len(h.Foreign) == 0 {
		return nil
	}
	for _, op := range h.Ops {
		keys := []string{op.Key}
		for _, m := range op.Muts {
			keys = append(keys, m.Key)
		}
		for _, k := range keys {
			if k != "" && h.IsForeign(k) {
				return fmt.Errorf("op %s uses key %q, which the hand edits own (foreign prefixes %q)", op.ID, k, h.Foreign)
			}
		}
	}
	keep := func(ps []Pair) []Pair {
		return slices.DeleteFunc(ps, func(p Pair) bool { return h.IsForeign(p.Key) })
	}
	for c, ws := range h.Watches {
		ws = slices.DeleteFunc(ws, func(w WatchRecord) bool { return (w.Type == "put" || w.Type == "delete") && h.IsForeign(w.Key) })
		for i := range ws {
			if ws[i].Type == "snapshot" {
				ws[i].Pairs = keep(ws[i].Pairs)
			}
		}
		h.Watches[c] = ws
	}
	if h.Final != nil {
		h.Final.Pairs = keep(h.Final.Pairs)
	}
	return nil
}

func parseInvoke(rec *rawRecord, at int64) (*Op, error) {
	// Until a completion says otherwise, an invoke is pending forever: the
	// client may have been SIGKILLed during the call.
	op := &Op{ID: rec.ID, Client: *rec.Client, Kind: rec.Op, Invoke: at, Return: Pending, Status: StatusUnknown}
	key := func() (string, error) {
		if rec.Key == nil {
			return "", fmt.Errorf("%s needs key", rec.Op)
		}
		return *rec.Key, nil
	}
	k, kerr := key()
	switch rec.Op {
	case "deleteBucket", "createBucket", "editBucket":
		if rec.By != "kubekv" && rec.By != "hand" {
			return nil, fmt.Errorf(`%s needs by: "kubekv" or "hand"`, rec.Op)
		}
		op.By, op.ForeignPrefix = rec.By, rec.Foreign
		if rec.Op == "editBucket" && rec.Foreign == "" {
			return nil, fmt.Errorf("editBucket needs foreignPrefix (the data keys it may touch)")
		}
	case "get":
		if kerr != nil {
			return nil, kerr
		}
		if rec.Consistent == nil {
			return nil, fmt.Errorf("get needs consistent")
		}
		op.Key, op.Consistent = k, *rec.Consistent
	case "put", "atomicPut":
		if kerr != nil || rec.Value == nil {
			return nil, fmt.Errorf("%s needs key and value", rec.Op)
		}
		m := Mutation{Key: k, Value: sized(*rec.Value, rec.Size)}
		if err := m.setLifetime(rec.TtlMs, rec.Session); err != nil {
			return nil, err
		}
		if rec.Op == "atomicPut" {
			if !rec.Prev.set {
				return nil, fmt.Errorf("atomicPut needs prev")
			}
			m.Expect = rec.Prev.e
		}
		op.Muts = []Mutation{m}
	case "delete", "atomicDelete":
		if kerr != nil {
			return nil, kerr
		}
		m := Mutation{Delete: true, Key: k}
		if rec.Op == "atomicDelete" {
			if !rec.Prev.set || rec.Prev.e.Kind != ExpectIndex {
				return nil, fmt.Errorf("atomicDelete needs a numeric prev")
			}
			m.Expect = rec.Prev.e
		}
		op.Muts = []Mutation{m}
	case "batch":
		for i, b := range rec.Ops {
			if b.Key == nil {
				return nil, fmt.Errorf("batch ops[%d] needs key", i)
			}
			m := Mutation{Key: *b.Key, Expect: b.Expect.e}
			switch b.Op {
			case "put":
				if b.Value == nil {
					return nil, fmt.Errorf("batch ops[%d] put needs value", i)
				}
				m.Value = sized(*b.Value, b.Size)
				if err := m.setLifetime(b.TtlMs, b.Session); err != nil {
					return nil, fmt.Errorf("batch ops[%d]: %v", i, err)
				}
			case "delete":
				m.Delete = true
				if b.Expect.e.Kind == ExpectAbsent {
					return nil, fmt.Errorf(`batch ops[%d]: a delete cannot expect "absent"`, i)
				}
			default:
				return nil, fmt.Errorf("batch ops[%d]: unknown op %q", i, b.Op)
			}
			op.Muts = append(op.Muts, m)
		}
	case "sessionOpen":
		if rec.TtlMs == nil || *rec.TtlMs <= 0 {
			return nil, fmt.Errorf("sessionOpen needs a positive ttlMs")
		}
		op.Muts = []Mutation{{TtlMs: *rec.TtlMs}}
	case "sessionClose", "sessionAbandon", "sessionLost":
		if rec.Session == nil || *rec.Session == "" {
			return nil, fmt.Errorf("%s needs session", rec.Op)
		}
		op.Key = *rec.Session
	default:
		return nil, fmt.Errorf("unknown op %q", rec.Op)
	}
	return op, nil
}

// setLifetime sets a put's ttlMs or session (not both: a session key
// lives as long as its session).
func (m *Mutation) setLifetime(ttlMs *int64, session *string) error {
	if ttlMs != nil && session != nil {
		return fmt.Errorf("a put has ttlMs or session, not both")
	}
	if ttlMs != nil {
		if *ttlMs <= 0 {
			return fmt.Errorf("ttlMs must be positive")
		}
		m.TtlMs = *ttlMs
	}
	if session != nil {
		if *session == "" {
			return fmt.Errorf("session must not be empty")
		}
		m.Session = *session
	}
	return nil
}

// isSessionOp reports whether the op opens, closes or abandons a session.
func (o *Op) isSessionOp() bool {
	return o.Kind == "sessionOpen" || o.Kind == "sessionClose" || o.Kind == "sessionAbandon" || o.Kind == "sessionLost"
}

// bindExpiries takes the session operations out of Ops into Sessions,
// then sets every put's ExpireAt. A put naming a session no sessionOpen
// returned is bad input: a client only binds keys to sessions it holds.
func (h *History) bindExpiries() error {
	var store []*Op
	var ends []*Op
	for _, op := range h.Ops {
		switch {
		case op.Kind == "sessionOpen":
			if op.Status == StatusOK {
				id := op.Key
				if h.Sessions[id] != nil {
					return fmt.Errorf("op %s: session %q opened twice", op.ID, id)
				}
				h.Sessions[id] = &Session{ID: id, Client: op.Client, TtlMs: op.Muts[0].TtlMs, Open: op}
			}
		case op.isSessionOp():
			ends = append(ends, op)
		default:
			store = append(store, op)
		}
	}
	for _, op := range ends { // in invoke order
		s := h.Sessions[op.Key]
		if s == nil {
			return fmt.Errorf("op %s: %s of session %q, which no sessionOpen returned", op.ID, op.Kind, op.Key)
		}
		if op.Kind == "sessionClose" && s.Close == nil {
			s.Close = op
		}
		if op.Kind == "sessionAbandon" && s.Abandon == nil {
			s.Abandon = op
		}
		if op.Kind == "sessionLost" && s.Lost == nil {
			s.Lost = op
		}
	}
	h.Ops = store
	for _, op := range h.Ops {
		for i := range op.Muts {
			m := &op.Muts[i]
			switch {
			case m.Delete:
			case m.Session != "":
				s := h.Sessions[m.Session]
				if s == nil {
					return fmt.Errorf("op %s puts %q bound to session %q, which no sessionOpen returned", op.ID, m.Key, m.Session)
				}
				m.ExpireAt = s.VanishFrom()
			case m.TtlMs > 0:
				m.ExpireAt = op.Invoke + m.TtlMs*1_000_000
			}
		}
	}
	return nil
}

func complete(op *Op, rec *rawRecord) error {
	op.Return = int64(*rec.At)
	op.Code = rec.Code
	op.Cause = rec.Cause
	switch rec.T {
	case "fail":
		op.Status = StatusFail
		return nil
	case "unknown":
		// Recorded as unknown: the call settled, but the effect may land
		// at any time after the invoke, so it stays pending to the end.
		op.Status = StatusUnknown
		op.Return = Pending
		return nil
	}
	op.Status = StatusOK
	r := rec.Result
	if r == nil {
		return fmt.Errorf("ok without result")
	}
	switch op.Kind {
	case "get":
		if r.Found == nil {
			return fmt.Errorf("get result needs found")
		}
		op.Found = *r.Found
		if op.Found {
			if r.Value == nil || r.LastIndex == nil {
				return fmt.Errorf("found get result needs value and lastIndex")
			}
			op.Value, op.LastIndex = sized(*r.Value, r.Size), *r.LastIndex
		}
	case "put", "atomicPut":
		if r.LastIndex == nil {
			return fmt.Errorf("%s result needs lastIndex", op.Kind)
		}
		op.LastIndex = *r.LastIndex
	case "delete":
		if r.Deleted == nil {
			return fmt.Errorf("delete result needs deleted")
		}
		op.Deleted = *r.Deleted
	case "batch":
		if r.Revision == nil {
			return fmt.Errorf("batch result needs revision")
		}
		op.Revision = *r.Revision
	case "sessionOpen":
		if r.Session == nil || *r.Session == "" {
			return fmt.Errorf("sessionOpen result needs session")
		}
		op.Key = *r.Session
	}
	return nil
}

// PutIndex is the lastIndex an ok write gave its puts (0 when it has none).
func (o *Op) PutIndex() int64 {
	switch o.Kind {
	case "put", "atomicPut":
		return o.LastIndex
	case "batch":
		return o.Revision
	}
	return 0
}
