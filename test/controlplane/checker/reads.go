package main

// What every observation of a value must satisfy, and item 2 of the README:
// cache reads (`consistent:false`), which are only eventually consistent and
// so are not part of the linearizability check.

import (
	"fmt"
	"slices"
	"sort"
)

// observation is one (key, value, lastIndex) some reader saw.
type observation struct {
	source    string // "get", "cache", "watch", "final"
	client    int
	at        int64
	key       string
	value     string
	lastIndex int64
}

type keyValue struct{ key, value string }
type keyIndex struct {
	key string
	idx int64
}

// observations indexes what the history wrote and what it saw.
type observations struct {
	writer    map[keyValue]*Op // the op that wrote a value to a key
	firstSeen map[keyValue]observation
	// atIndex: the value at (key, lastIndex), from acknowledged writes and
	// from the first observation of the pair.
	atIndex map[keyIndex]string
	// indexOf: the lastIndex of a value, from its acknowledged write or its
	// first observation.
	indexOf map[keyValue]int64
	// keyDeletes: per key, the operations that may have deleted it (not
	// failed); bucketDeletes: the bucket deletions (not failed), which
	// delete every key.
	keyDeletes    map[string][]*Op
	bucketDeletes []*Op
	// ttlPuts: per key, the puts with a TTL or a session (not failed):
	// each lets the key vanish by expiry from its ExpireAt on.
	ttlPuts map[string][]ttlPut
}

// ttlPut is a put that lets its key vanish: its op and the earliest time.
type ttlPut struct {
	op       *Op
	expireAt int64
}

func newObservations(h *History) *observations {
	o := &observations{
		writer:     map[keyValue]*Op{},
		firstSeen:  map[keyValue]observation{},
		atIndex:    map[keyIndex]string{},
		indexOf:    map[keyValue]int64{},
		keyDeletes: map[string][]*Op{},
		ttlPuts:    map[string][]ttlPut{},
	}
	for _, op := range h.Ops {
		if op.Status == StatusFail {
			continue
		}
		if op.Kind == "deleteBucket" {
			o.bucketDeletes = append(o.bucketDeletes, op)
		}
		for _, m := range op.Muts {
			if m.Delete && !slices.Contains(o.keyDeletes[m.Key], op) {
				o.keyDeletes[m.Key] = append(o.keyDeletes[m.Key], op)
			}
			if !m.Delete && m.ExpireAt != 0 {
				o.ttlPuts[m.Key] = append(o.ttlPuts[m.Key], ttlPut{op, m.ExpireAt})
			}
		}
	}
	for _, op := range h.Ops {
		for _, m := range op.Muts {
			if m.Delete {
				continue
			}
			kv := keyValue{m.Key, m.Value}
			o.writer[kv] = op
			if op.Status == StatusOK {
				o.atIndex[keyIndex{m.Key, op.PutIndex()}] = m.Value
				o.indexOf[kv] = op.PutIndex()
			}
		}
	}
	for _, ob := range allObservations(h) {
		kv := keyValue{ob.key, ob.value}
		if first, ok := o.firstSeen[kv]; !ok || ob.at < first.at {
			o.firstSeen[kv] = ob
		}
	}
	return o
}

// allObservations lists every value read: consistent and cache gets, watch
// snapshots and puts, and the final read.
func allObservations(h *History) []observation {
	var out []observation
	for _, op := range h.Ops {
		if op.Kind == "get" && op.Status == StatusOK && op.Found {
			src := "get"
			if !op.Consistent {
				src = "cache"
			}
			out = append(out, observation{src, op.Client, op.Return, op.Key, op.Value, op.LastIndex})
		}
	}
	for c, ws := range h.Watches {
		for _, w := range ws {
			switch w.Type {
			case "snapshot":
				for _, p := range w.Pairs {
					out = append(out, observation{"watch", c, w.At, p.Key, p.Value, p.LastIndex})
				}
			case "put":
				out = append(out, observation{"watch", c, w.At, w.Key, w.Value, w.LastIndex})
			}
		}
	}
	if h.Final != nil {
		for _, p := range h.Final.Pairs {
			out = append(out, observation{"final", finalLane, h.Final.At, p.Key, p.Value, p.LastIndex})
		}
	}
	return out
}

// writtenAt is when the write of value to key was invoked: the earliest its
// version can have come into being (0 when no operation wrote it).
func (o *observations) writtenAt(key, value string) int64 {
	if w := o.writer[keyValue{key, value}]; w != nil {
		return w.Invoke
	}
	return 0
}

// deletionBetween reports whether key may have been deleted (by a delete of
// it, or by a deletion of the bucket) after a version of it written no
// earlier than `since` and before `at`: some deletion that did not fail was
// invoked by `at` and had not returned before `since`; or it may have
// expired: a put of it with a TTL or a session that had not returned
// before `since` reached its ExpireAt (invoke + ttlMs, or the session's
// VanishFrom) by `at`.
func (o *observations) deletionBetween(key string, since, at int64) bool {
	for _, p := range o.ttlPuts[key] {
		if p.op.Return >= since && p.expireAt <= at {
			return true
		}
	}
	for _, ops := range [][]*Op{o.keyDeletes[key], o.bucketDeletes} {
		for _, d := range ops {
			if d.Invoke <= at && d.Return >= since {
				return true
			}
		}
	}
	return false
}

// bucketDeletedBetween reports whether a bucket deletion may lie between
// `from` and `to`.
func (o *observations) bucketDeletedBetween(from, to int64) bool {
	for _, d := range o.bucketDeletes {
		if d.Invoke <= to && d.Return >= from {
			return true
		}
	}
	return false
}

// firstSeenWritten returns the earliest observation of a value an
// unknown-outcome write put, if one was seen after the write's invoke.
func (o *observations) firstSeenWritten(op *Op) (observation, bool) {
	var best observation
	found := false
	for _, m := range op.Muts {
		if m.Delete {
			continue
		}
		ob, ok := o.firstSeen[keyValue{m.Key, m.Value}]
		if ok && ob.at >= op.Invoke && (!found || ob.at < best.at) {
			best, found = ob, true
		}
	}
	return best, found
}

// check verifies what any observation must satisfy: the value was written to
// this key by an operation that was invoked before the observation and did
// not fail, and (key, lastIndex) and value agree with the acknowledged write
// and with every other observation (the first one seen is the reference).
// It returns a description of the first problem, or "".
func (o *observations) check(ob observation) string {
	where := fmt.Sprintf("%s read by client %d saw %s=%s@%d", ob.source, ob.client, ob.key, ob.value, ob.lastIndex)
	if ob.client == finalLane {
		where = fmt.Sprintf("final read saw %s=%s@%d", ob.key, ob.value, ob.lastIndex)
	}
	kv := keyValue{ob.key, ob.value}
	w := o.writer[kv]
	switch {
	case w == nil:
		return where + ": no operation wrote that value to that key (phantom)"
	case w.Status == StatusFail:
		return fmt.Sprintf("%s: written by %s, which failed (%s)", where, w.ID, w.Code)
	case w.Invoke > ob.at:
		return fmt.Sprintf("%s: before its write %s was invoked", where, w.ID)
	}
	if idx, ok := o.indexOf[kv]; ok && idx != ob.lastIndex {
		return fmt.Sprintf("%s: that value has lastIndex %d", where, idx)
	}
	o.indexOf[kv] = ob.lastIndex
	ki := keyIndex{ob.key, ob.lastIndex}
	if v, ok := o.atIndex[ki]; ok && v != ob.value {
		return fmt.Sprintf("%s: %s@%d holds %s", where, ob.key, ob.lastIndex, v)
	}
	o.atIndex[ki] = ob.value
	return ""
}

// checkCacheReads: every cache read passes o.check, and per client and key
// the lastIndex never goes back. The store's cache only moves forward and
// takes in the store's own acknowledged writes and consistent reads (write-
// through, src/store/configmap-store.ts), so the floor a cache read must
// reach is the highest lastIndex the client wrote or read before it.
//
// The client's own watch (watchTree(”) on the same store) shows what its
// cache held: an event recorded before a cache read was invoked raises that
// read's floor too.
//
// A cache read that finds nothing after the client knew the key is accepted
// when the key may have been deleted since: the client deleted it itself (or
// a consistent read of its found it gone), or a delete of the key or a deletion of
// the bucket (not failed) may lie between the write of the version the
// client knew and the read. Anything else is the cache going back, say to
// an empty bucket after it held a newer state.
func checkCacheReads(h *History, o *observations) []string {
	type floor struct {
		idx     int64
		since   int64 // when the write of that version was invoked
		deleted bool  // the client itself deleted the key after idx
	}
	// Completions of each client, in order (a client issues one op at a
	// time, but order by completion so overlapping ops are still right).
	byClient := map[int][]*Op{}
	for _, op := range h.Ops {
		if op.Status == StatusOK {
			byClient[op.Client] = append(byClient[op.Client], op)
		}
	}
	var out []string
	for client, ops := range byClient {
		sortByReturn(ops)
		floors := map[string]*floor{}
		get := func(key string) *floor {
			if floors[key] == nil {
				floors[key] = &floor{}
			}
			return floors[key]
		}
		raise := func(key, value string, idx, since int64) {
			if f := get(key); idx > f.idx {
				*f = floor{idx: idx, since: since}
			}
		}
		// The watch only raises floors: a record is written when the
		// iterator yields it, a little after the cache held it, so it may
		// trail the client's own later writes; a raise is safe with that
		// lag (the cache held at least that much by then), a "gone" mark
		// would not be. Deletes the watch saw are the watch validator's.
		watch := h.Watches[client]
		seenWatch := func(before int64) {
			for len(watch) > 0 && watch[0].At < before {
				w := watch[0]
				watch = watch[1:]
				switch w.Type {
				case "snapshot":
					for _, p := range w.Pairs {
						raise(p.Key, p.Value, p.LastIndex, o.writtenAt(p.Key, p.Value))
					}
				case "put":
					raise(w.Key, w.Value, w.LastIndex, o.writtenAt(w.Key, w.Value))
				}
			}
		}
		for _, op := range ops {
			seenWatch(op.Invoke)
			if op.Kind == "get" && !op.Consistent {
				f := get(op.Key)
				if !op.Found {
					if f.idx > 0 && !f.deleted && !o.deletionBetween(op.Key, f.since, op.Return) {
						out = append(out, fmt.Sprintf("cache read %s by client %d found no %s after the client saw or wrote it at lastIndex %d, and no delete of it or of the bucket can lie in between (the cache went back)", op.ID, client, op.Key, f.idx))
					}
					continue
				}
				if msg := o.check(observation{"cache", client, op.Return, op.Key, op.Value, op.LastIndex}); msg != "" {
					out = append(out, fmt.Sprintf("%s (%s)", msg, op.ID))
					continue
				}
				if op.LastIndex < f.idx || (op.LastIndex == f.idx && f.deleted) {
					out = append(out, fmt.Sprintf("cache read %s by client %d went back: %s=%s@%d after the client saw or wrote lastIndex %d", op.ID, client, op.Key, op.Value, op.LastIndex, f.idx))
				}
				raise(op.Key, op.Value, op.LastIndex, o.writtenAt(op.Key, op.Value))
				continue
			}
			// The client's own acknowledged writes and consistent reads
			// raise the floor of its later cache reads.
			switch {
			case op.Kind == "get" && op.Found:
				raise(op.Key, op.Value, op.LastIndex, o.writtenAt(op.Key, op.Value))
			case op.Kind == "get" && !op.Found:
				get(op.Key).deleted = true
			case op.IsWrite():
				for _, m := range op.Muts {
					f := get(m.Key)
					if !m.Delete {
						raise(m.Key, m.Value, op.PutIndex(), op.Invoke)
					} else if committedDelete(op) {
						f.deleted = true
					}
				}
			}
		}
	}
	return out
}

// committedDelete: the acknowledged write certainly committed its deletes, so
// the client's cache took them in. A delete of an absent key commits nothing
// (and the cache may still hold a stale copy).
func committedDelete(op *Op) bool {
	switch op.Kind {
	case "delete":
		return op.Deleted
	case "atomicDelete":
		return true
	case "batch":
		for _, m := range op.Muts {
			if !m.Delete {
				return true // a batch with a put always commits
			}
		}
	}
	return false
}

// sortByReturn orders ops by completion time (stable).
func sortByReturn(ops []*Op) {
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Return < ops[j].Return })
}
