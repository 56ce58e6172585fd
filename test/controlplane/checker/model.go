package main

// The sequential specification of a kubekv bucket that porcupine checks the
// history against (README, "What the checker claims", item 1).
//
// State: per key present / value / lastIndex, and whether the bucket itself
// is deleted (slot bucketSlot). A bucket deletion (deleteBucket, by a kubekv
// store's teardown or by hand) takes every key away at one instant within
// its interval; it keeps each key's last index, since a key's lastIndex
// never goes back, not even across a deletion and recreation of the bucket
// (the recreated bucket's revisions start above the old ones). While the
// bucket is deleted no put can take effect; createBucket brings it back,
// empty. A lastIndex may be unknown:
// a write whose outcome is unknown and that the search decides took effect
// got a revision nobody reported. Such an index is kept as a lower bound
// (it is greater than the key's index before that write), and the first
// observation of it (a consistent get) pins it down.
//
// Unknown outcomes. An unknown write is pending to the end of the history
// (Return = Pending), so porcupine may linearize it at any point after its
// invoke, including after every other operation. Its step always succeeds:
// it applies the write when its conditions can hold there, and otherwise
// changes nothing (a conditional write whose condition is false fails). "It
// never took effect" needs no separate branch: linearizing the write after
// everything else has the same observable effect as not applying it, and
// that position is always available to a pending operation. This keeps the
// model deterministic (no power-set of states) while allowing both
// outcomes, which is what the README asks for.
//
// Expiry (issue 20). A put with a TTL gives its key an expiry time: the
// put's invoke + ttlMs (the write lands after its invoke, and a sweeper
// times the TTL from when it saw the write, so a correct store never
// deletes the key earlier). From then on the key may vanish at any moment
// without an operation of the history. The model stays deterministic by
// letting observations decide: an operation that returned at or after the
// expiry time and saw the key absent (a read, a failed KEY_NOT_FOUND, a
// create that succeeded, a delete that found nothing) takes the key away
// at that point; one that saw it present keeps it. An operation that
// returned before the expiry time and saw it absent is a violation: the
// key vanished early. A put bound to a session (session ops, history.go
// Session) is the same with the session's VanishFrom as the expiry time:
// the close's invoke, or the open's invoke + ttlMs (why no later bound is
// safe: Session.VanishFrom).

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// keyState is one key of the model. For a present key, idx is its lastIndex
// when exact, else a lower bound (lastIndex >= idx). For an absent key, idx
// is the last index the key had: the next put must be given a larger one
// (kubekv per-key revisions come from the bucket revision, which only grows).
type keyState struct {
	present bool
	value   string
	idx     int64
	exact   bool
	// expireAt (present keys only; 0 = none) is when the key may start to
	// vanish by expiry: its put's ExpireAt (invoke + ttlMs, or its
	// session's VanishFrom), in history time.
	expireAt int64
}

// mayExpire reports whether a present key may have vanished by expiry
// before an operation that returned at `ret`.
func (ks keyState) mayExpire(ret int64) bool {
	return ks.present && ks.expireAt != 0 && ret >= ks.expireAt
}

// expired is the key after it vanished by expiry (its last index kept).
func (ks keyState) expired() keyState { return keyState{idx: ks.idx} }

// state is the model state, indexed by key number (see keyTable). It is
// never mutated in place: a step copies it (porcupine requires pure steps).
type state []keyState

// bucketSlot is the state slot (and key number, see newKeyTable) that holds
// the bucket's own state: present = the bucket is deleted.
const bucketSlot = 0

// mutation is a Mutation with its key resolved to a key number.
type mutation struct {
	Mutation
	k int
}

// readExpect is one key a consistent read reported.
type readExpect struct {
	k         int
	found     bool
	value     string
	lastIndex int64
}

// input is a porcupine operation's input; the recorded outcome is part of it
// (the output is unused) because the step's behaviour depends on it.
type input struct {
	op     *Op          // nil for the final read
	muts   []mutation   // writes
	reads  []readExpect // consistent get (one key) or the final read (many)
	status Status
	code   string // fail: the condition code it claims
	// putIndex is the lastIndex of every put of an ok write (the put's
	// lastIndex, or the batch revision); for an unknown write whose value was
	// observed it is the observed one.
	putIndex int64
	inferred bool   // an unknown write turned ok by an observation of its value
	bucket   string // "delete" or "create": a bucket op (op.Kind deleteBucket / createBucket)
	// ret is when the operation returned (Pending for an unknown one): an
	// observation up to then may see a key its TTL allows to vanish gone.
	ret  int64
	keys *keyTable
}

// Condition codes: a fail with one of these claims the condition was false.
var conditionCodes = map[string]bool{"KEY_EXISTS": true, "KEY_NOT_FOUND": true, "KEY_MODIFIED": true}

// condResult is the outcome of a condition on the model state: it holds,
// fails with a code, or may go either way (the key's lastIndex is unknown).
type condResult int

const (
	condHolds condResult = iota
	condFails
	condMaybe
)

// evalCond decides `e` on key state ks, the way kubekv's commit does
// (src/store/commit.ts checkCondition). The code is the one kubekv reports
// when the condition is false.
func evalCond(ks keyState, e Expect) (condResult, string) {
	switch e.Kind {
	case ExpectAbsent:
		if ks.present {
			return condFails, "KEY_EXISTS"
		}
		return condHolds, ""
	case ExpectIndex:
		switch {
		case !ks.present:
			return condFails, "KEY_NOT_FOUND"
		case ks.exact && ks.idx == e.Index:
			return condHolds, ""
		case !ks.exact && e.Index >= ks.idx:
			return condMaybe, "KEY_MODIFIED"
		default:
			return condFails, "KEY_MODIFIED"
		}
	}
	return condHolds, ""
}

// step is the model's transition function.
func step(s state, in *input) (bool, state) {
	if in.reads != nil {
		return stepRead(s, in.reads, in.ret)
	}
	if in.bucket != "" {
		// Acknowledged or pending alike: a pending one may also never take
		// effect, which linearizing it after everything else stands for.
		return true, stepBucket(s, in.bucket)
	}
	switch in.status {
	case StatusOK:
		return stepWrite(s, in, true)
	case StatusUnknown:
		ok, next := stepWrite(s, in, false)
		if !ok {
			return true, s // a condition was false: the write failed, no effect
		}
		return true, next
	default:
		return stepFail(s, in)
	}
}

// stepRead: a consistent read must see the state exactly; an unknown
// lastIndex is pinned to the one read.
func stepRead(s state, reads []readExpect, ret int64) (bool, state) {
	next := s
	copied := false
	for _, r := range reads {
		ks := s[r.k]
		if !r.found {
			if ks.mayExpire(ret) {
				// It expired before this read.
				if !copied {
					next = append(state(nil), s...)
					copied = true
				}
				next[r.k] = ks.expired()
				continue
			}
			if ks.present {
				return false, nil
			}
			continue
		}
		if !ks.present || ks.value != r.value {
			return false, nil
		}
		if ks.exact {
			if ks.idx != r.lastIndex {
				return false, nil
			}
			continue
		}
		if r.lastIndex < ks.idx {
			return false, nil
		}
		if !copied {
			next = append(state(nil), s...)
			copied = true
		}
		next[r.k].idx, next[r.k].exact = r.lastIndex, true
	}
	return true, next
}

// stepBucket deletes the bucket (every key goes, keeping its last index as
// the floor of its next put) or creates it again (empty).
func stepBucket(s state, kind string) state {
	next := append(state(nil), s...)
	if kind == "create" {
		next[bucketSlot] = keyState{}
		return next
	}
	for k := range next {
		next[k] = keyState{idx: next[k].idx}
	}
	next[bucketSlot] = keyState{present: true}
	return next
}

// stepWrite applies a write whose conditions all hold (acknowledged = the
// write is ok and its puts got in.putIndex; otherwise it is an unknown write
// taking effect, and its puts get an unknown index). It returns false when
// a condition is false, or (acknowledged) when a reported index or
// `deleted` contradicts the state.
func stepWrite(s state, in *input, acknowledged bool) (bool, state) {
	if s[bucketSlot].present {
		// No bucket: nothing can be stored. Deletes of absent keys and
		// conditions on them say nothing false, but a put cannot land.
		for _, m := range in.muts {
			if !m.Delete {
				return false, nil
			}
		}
	}
	next := append(state(nil), s...)
	written := map[int]bool{}
	for i, m := range in.muts {
		ks := next[m.k]
		res, _ := evalCond(ks, m.Expect)
		// Expiry can only explain what the write saw of a key's state before it.
		fresh := !mutatedBefore(in.muts[:i], m.k)
		if res == condFails && acknowledged && fresh && ks.mayExpire(in.ret) {
			// A create that succeeded on a key its TTL lets vanish: it had expired.
			if r, _ := evalCond(ks.expired(), m.Expect); r == condHolds {
				ks, res = ks.expired(), r
			}
		}
		if m.Delete && acknowledged && fresh && in.op != nil && in.op.Kind == "delete" && !in.op.Deleted && ks.mayExpire(in.ret) {
			ks = ks.expired() // a delete that found nothing: it had expired
		}
		switch res {
		case condFails:
			return false, nil
		case condMaybe:
			// It held, so the unknown index was the expected one.
			ks.idx, ks.exact = m.Expect.Index, true
		}
		// The index the next put of this key must exceed. Within one write
		// every put of a key gets the same revision, so a second put of a
		// key in a batch is compared with the key's index before the write.
		floor := ks.idx
		if written[m.k] {
			floor = s[m.k].idx
		}
		if m.Delete {
			if acknowledged && in.op != nil && in.op.Kind == "delete" && in.op.Deleted != ks.present {
				return false, nil
			}
			next[m.k] = keyState{idx: ks.idx}
			continue
		}
		written[m.k] = true
		expireAt := m.ExpireAt
		if acknowledged {
			if in.putIndex <= floor {
				return false, nil // lastIndex must strictly increase
			}
			next[m.k] = keyState{present: true, value: m.Value, idx: in.putIndex, exact: true, expireAt: expireAt}
		} else {
			next[m.k] = keyState{present: true, value: m.Value, idx: floor + 1, expireAt: expireAt}
		}
	}
	return true, next
}

// stepFail: a write failed with a condition code. Nothing changes, and the
// failure must be justified: evaluated in order, the first false condition
// (kubekv stops at it) must be one that reports this code.
func stepFail(s state, in *input) (bool, state) {
	staged := append(state(nil), s...)
	// Keys this explanation needs to have expired before the write (each
	// decides only its own first condition, so choosing per key in order is
	// exact): kept in the returned state.
	var gone []int
	result := func(ok bool) (bool, state) {
		if !ok || len(gone) == 0 {
			return ok, s
		}
		next := append(state(nil), s...)
		for _, k := range gone {
			next[k] = s[k].expired()
		}
		return true, next
	}
	for i, m := range in.muts {
		ks := staged[m.k]
		res, code := evalCond(ks, m.Expect)
		explained := (res == condFails || res == condMaybe) && code == in.code
		if !explained && ks.mayExpire(in.ret) && !mutatedBefore(in.muts[:i], m.k) {
			// The key may have expired before this write: take that branch
			// when it explains the failure (KEY_NOT_FOUND), or when it is the
			// only one in which this condition held.
			alt := ks.expired()
			r, c := evalCond(alt, m.Expect)
			if (r == condFails && c == in.code) || (res == condFails && r == condHolds) {
				ks, res, code = alt, r, c
				gone = append(gone, m.k)
			}
		}
		switch res {
		case condFails:
			return result(code == in.code)
		case condMaybe:
			if code == in.code {
				return result(true)
			}
			ks.idx, ks.exact = m.Expect.Index, true // otherwise it held
		}
		if m.Delete {
			staged[m.k] = keyState{idx: ks.idx}
		} else {
			staged[m.k] = keyState{present: true, value: m.Value, idx: ks.idx + 1}
		}
	}
	return false, s // every condition held: the write could not have failed so
}

// mutatedBefore reports whether an earlier mutation of the same write
// touched key k (then the write itself, not expiry, decides its state).
func mutatedBefore(muts []mutation, k int) bool {
	for _, m := range muts {
		if m.k == k {
			return true
		}
	}
	return false
}

// kvModel builds the porcupine model; `parts` is the precomputed partition
// of the history (connected components of keys touched together).
func kvModel(keys *keyTable, parts [][]porcupine.Operation) porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			if parts == nil {
				return [][]porcupine.Operation{history}
			}
			return parts
		},
		Init: func() interface{} {
			return make(state, keys.len())
		},
		Step: func(st, in, _ interface{}) (bool, interface{}) {
			ok, next := step(st.(state), in.(*input))
			return ok, next
		},
		Equal: func(a, b interface{}) bool {
			x, y := a.(state), b.(state)
			for i := range x {
				if x[i] != y[i] {
					return false
				}
			}
			return true
		},
		Hash: func(st interface{}) uint64 {
			h := fnv.New64a()
			for _, ks := range st.(state) {
				// The bucket slot hashes like an absent or present key.
				if !ks.present {
					fmt.Fprintf(h, "-%d|", ks.idx)
					continue
				}
				fmt.Fprintf(h, "%s@%d%t~%d|", ks.value, ks.idx, ks.exact, ks.expireAt)
			}
			return h.Sum64()
		},
		DescribeOperation: func(in, _ interface{}) string { return in.(*input).String() },
		DescribeState: func(st interface{}) string {
			return describeState(keys, st.(state))
		},
	}
}

func describeState(keys *keyTable, s state) string {
	var parts []string
	for k, ks := range s {
		if k == bucketSlot {
			if ks.present {
				parts = append(parts, "(bucket deleted)")
			}
			continue
		}
		if !ks.present {
			continue
		}
		idx := strconv.FormatInt(ks.idx, 10)
		if !ks.exact {
			idx = ">=" + idx
		}
		parts = append(parts, fmt.Sprintf("%s=%s@%s", keys.name(k), ks.value, idx))
	}
	if len(parts) == 0 {
		return "{}"
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// String describes the operation for the visualisation and violation list.
func (in *input) String() string {
	if in.op == nil {
		var ps []string
		for _, r := range in.reads {
			if r.found {
				ps = append(ps, fmt.Sprintf("%s=%s@%d", in.keys.name(r.k), r.value, r.lastIndex))
			} else {
				ps = append(ps, in.keys.name(r.k)+"=absent")
			}
		}
		return "final read -> {" + strings.Join(ps, " ") + "}"
	}
	o := in.op
	var call string
	switch o.Kind {
	case "deleteBucket", "createBucket":
		call = fmt.Sprintf("%s(by %s)", o.Kind, o.By)
	case "get":
		call = fmt.Sprintf("get(%s)", o.Key)
	case "batch":
		var ms []string
		for _, m := range o.Muts {
			ms = append(ms, m.describe())
		}
		call = "batch[" + strings.Join(ms, ", ") + "]"
	default:
		call = o.Kind + "(" + o.Muts[0].args() + ")"
	}
	var result string
	switch in.status {
	case StatusFail:
		result = "fail " + in.code
	case StatusUnknown:
		result = "unknown"
	default:
		switch o.Kind {
		case "get":
			if o.Found {
				result = fmt.Sprintf("%s@%d", o.Value, o.LastIndex)
			} else {
				result = "not found"
			}
		case "delete":
			result = fmt.Sprintf("deleted=%t", o.Deleted)
		case "atomicDelete", "deleteBucket", "createBucket":
			result = "ok"
		default:
			result = fmt.Sprintf("@%d", in.putIndex)
		}
		if in.inferred {
			result += " (unknown; inferred from an observation of its value)"
		}
	}
	return fmt.Sprintf("%s %s -> %s", o.ID, call, result)
}

func (m Mutation) verb() string {
	if m.Delete {
		return "delete"
	}
	return "put"
}

func (m Mutation) args() string {
	args := []string{m.Key}
	if !m.Delete {
		args = append(args, m.Value)
	}
	if m.Expect.Kind != ExpectNone {
		args = append(args, "prev="+m.Expect.String())
	}
	return strings.Join(args, ", ")
}

func (m Mutation) describe() string { return m.verb() + "(" + m.args() + ")" }

// keyTable numbers the keys of a history.
type keyTable struct {
	index map[string]int
	names []string
}

// newKeyTable reserves key number bucketSlot for the bucket itself (no key
// name maps to it).
func newKeyTable() *keyTable { return &keyTable{index: map[string]int{}, names: []string{"(bucket)"}} }

func (t *keyTable) id(key string) int {
	if k, ok := t.index[key]; ok {
		return k
	}
	t.index[key] = len(t.names)
	t.names = append(t.names, key)
	return len(t.names) - 1
}

func (t *keyTable) name(k int) string { return t.names[k] }
func (t *keyTable) len() int          { return len(t.names) }
