package main

// Item 3 of the README: the watch validators, per client. A client's
// watchTree('') stream is a sequence of iterators (watch-start, then a
// snapshot, then events, until a watch-error or the end); the rules below
// hold across iterators of one client, since its store only moves forward.

import (
	"fmt"
	"maps"
	"sort"
)

// checkWatches returns the violations of every client's watch stream.
func checkWatches(h *History, o *observations) []string {
	clients := make([]int, 0, len(h.Watches))
	for c := range h.Watches {
		clients = append(clients, c)
	}
	for c := range h.ClientEnd {
		if _, ok := h.Watches[c]; !ok {
			clients = append(clients, c)
		}
	}
	sort.Ints(clients)
	var out []string
	for _, c := range clients {
		out = append(out, checkClientWatch(c, h.Watches[c], h, o)...)
	}
	return out
}

// keyWatch is what one client's watch has said about one key.
type keyWatch struct {
	idx     int64 // highest lastIndex delivered
	since   int64 // when the write of that version was invoked
	deleted bool  // deleted (or missing from a snapshot) since idx
}

func checkClientWatch(client int, records []WatchRecord, h *History, o *observations) []string {
	var out []string
	report := func(w WatchRecord, format string, args ...any) {
		out = append(out, fmt.Sprintf("watch of client %d (%s at %d): %s", client, w.Type, w.At, fmt.Sprintf(format, args...)))
	}
	end, ended := h.ClientEnd[client]
	seen := map[string]*keyWatch{}
	key := func(k string) *keyWatch {
		if seen[k] == nil {
			seen[k] = &keyWatch{}
		}
		return seen[k]
	}
	// view is the state the current iterator delivered (nil: no snapshot
	// yet since the last (re)start).
	var view map[string]Pair
	lastRev := int64(-1)
	lastRevAt := int64(0) // when lastRev was first delivered
	// atFinal is the view when the watch was at the final read's revision,
	// kept if a write still in flight at the final read (an unknown outcome)
	// landed later and moved the watch past it.
	var atFinal map[string]Pair
	finalRev := int64(-1)
	if h.Final != nil && h.Final.Revision > 0 {
		finalRev = h.Final.Revision
	}

	// deliver checks one delivered (key, value, lastIndex). A snapshot may
	// repeat the last index of a key; an event must go beyond it.
	deliver := func(w WatchRecord, p Pair, fromSnapshot bool) {
		if msg := o.check(observation{"watch", client, w.At, p.Key, p.Value, p.LastIndex}); msg != "" {
			report(w, "%s", msg)
		}
		if p.LastIndex > w.Revision {
			report(w, "%s@%d is newer than the revision %d", p.Key, p.LastIndex, w.Revision)
		}
		kw := key(p.Key)
		switch {
		case p.LastIndex < kw.idx:
			report(w, "%s went back to lastIndex %d after %d", p.Key, p.LastIndex, kw.idx)
		case p.LastIndex == kw.idx && kw.deleted:
			report(w, "%s@%d came back after it was deleted", p.Key, p.LastIndex)
		case p.LastIndex == kw.idx && !fromSnapshot:
			report(w, "%s@%d delivered twice", p.Key, p.LastIndex)
		}
		if p.LastIndex >= kw.idx {
			*kw = keyWatch{idx: p.LastIndex, since: o.writtenAt(p.Key, p.Value)}
		}
	}
	// gone checks that a key the watch held may have been deleted: by a
	// delete of it or a deletion of the bucket that may follow the write of
	// the version delivered last. Otherwise the store's cache went back.
	gone := func(w WatchRecord, k string, how string) {
		kw := key(k)
		if kw.idx > 0 && !kw.deleted && !o.deletionBetween(k, kw.since, w.At) {
			report(w, "%s %s after delivering %s@%d, but no delete of it or of the bucket can lie in between (the cache went back)", k, how, k, kw.idx)
		}
		kw.deleted = true
	}

	for _, w := range records {
		if ended && w.At > end {
			break
		}
		switch w.Type {
		case "start", "error":
			view = nil
			continue
		}
		// The bucket revision goes on across a bucket deletion only from
		// the recreated bucket's first kubekv commit on: a recreated bucket
		// kubekv never wrote has none. Keys' lastIndexes are checked anyway.
		reset := w.Revision < lastRev && o.bucketDeletedBetween(lastRevAt, w.At)
		if w.Revision < lastRev && !reset {
			report(w, "revision went back to %d after %d", w.Revision, lastRev)
		}
		// The watch moves past the final revision (a write in flight at the
		// final read, or a key expiring after it): keep the state it held
		// there. An event past it with the watch below it means the commits
		// in between changed no key (a compaction, an epoch raise), so the
		// view is the final state all the same; a snapshot may hide changes
		// and does not count.
		if finalRev >= 0 && lastRev <= finalRev && w.Revision > finalRev && w.Type != "snapshot" && view != nil && atFinal == nil {
			atFinal = maps.Clone(view)
		}
		if w.Revision > lastRev || reset {
			// lastRevAt: when the watch first reached lastRev. The
			// deletion's own delete events still carry the old revision.
			lastRev, lastRevAt = w.Revision, w.At
			// A watch that lags delivers a state after the bucket it
			// belongs to may already have been deleted: for a put, the
			// state came into being when its write was invoked.
			if at := o.writtenAt(w.Key, w.Value); w.Type == "put" && at > 0 && at < lastRevAt {
				lastRevAt = at
			}
		}
		switch w.Type {
		case "snapshot":
			view = map[string]Pair{}
			for _, p := range w.Pairs {
				deliver(w, p, true)
				view[p.Key] = p
			}
			for k := range seen {
				if _, ok := view[k]; !ok {
					gone(w, k, "missing from a snapshot")
				}
			}
		case "put":
			p := Pair{Key: w.Key, Value: w.Value, LastIndex: w.LastIndex}
			deliver(w, p, false)
			if view != nil {
				view[w.Key] = p
			}
		case "delete":
			if view != nil {
				if _, ok := view[w.Key]; !ok {
					report(w, "delete of %s, which the watch did not have", w.Key)
				}
				delete(view, w.Key)
			}
			gone(w, w.Key, "deleted")
		}
	}

	// A client that ended cleanly waited for its watch to reach the final
	// revision: what the watch delivered must be the final state.
	if ended && h.Final != nil {
		at := WatchRecord{Type: "client-end", At: end}
		if view == nil {
			report(at, "ended without a watch snapshot after its last (re)start")
		} else {
			if atFinal != nil {
				view = atFinal
			}
			out = append(out, diffFinal(client, view, h.Final, at)...)
		}
	}
	return out
}

func diffFinal(client int, view map[string]Pair, final *Final, at WatchRecord) []string {
	var out []string
	want := map[string]Pair{}
	for _, p := range final.Pairs {
		want[p.Key] = p
	}
	prefix := fmt.Sprintf("watch of client %d (client-end at %d): final state not delivered: ", client, at.At)
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range view {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		got, has := view[k]
		exp, wants := want[k]
		switch {
		case has && !wants:
			out = append(out, fmt.Sprintf("%s%s=%s@%d, final has no %s", prefix, k, got.Value, got.LastIndex, k))
		case !has && wants:
			out = append(out, fmt.Sprintf("%sno %s, final has %s@%d", prefix, k, exp.Value, exp.LastIndex))
		case got != exp:
			out = append(out, fmt.Sprintf("%s%s=%s@%d, final has %s@%d", prefix, k, got.Value, got.LastIndex, exp.Value, exp.LastIndex))
		}
	}
	return out
}
