package main

// Item 1 of the README: linearizability of every write and every consistent
// get (and the final read), checked by porcupine against the model in
// model.go.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// linearizability is the outcome of the porcupine check.
type linearizability struct {
	result     porcupine.CheckResult
	violations []string
	model      porcupine.Model
	info       porcupine.LinearizationInfo
	operations int // porcupine operations checked
	partitions int
}

// checkLinearizability builds the porcupine history and checks it.
func checkLinearizability(h *History, obs *observations, timeout time.Duration) linearizability {
	keys := newKeyTable()
	lanes := clientLanes(h)
	var ops []porcupine.Operation
	var bucketOps []porcupine.Operation

	for _, o := range h.Ops {
		in := &input{op: o, status: o.Status, code: o.Code, putIndex: o.PutIndex(), keys: keys, ret: o.Return}
		ret := o.Return
		if o.IsBucketOp() {
			// A hand edit touches only foreign keys and annotations: no key
			// of the model. A failed deletion or creation did nothing.
			if o.Kind == "editBucket" || o.Status == StatusFail {
				continue
			}
			in.bucket = map[string]string{"deleteBucket": "delete", "createBucket": "create"}[o.Kind]
			bucketOps = append(bucketOps, porcupine.Operation{ClientId: lanes[o.Client], Input: in, Call: o.Invoke, Return: ret, Metadata: o.ID})
			continue
		}
		if o.Kind == "get" {
			// Cache reads are not linearizable by design (item 2 checks
			// them); a get that failed or may have failed observed nothing.
			if !o.Consistent || o.Status != StatusOK {
				continue
			}
			in.reads = []readExpect{{k: keys.id(o.Key), found: o.Found, value: o.Value, lastIndex: o.LastIndex}}
		} else {
			if o.Status == StatusFail && !conditionCodes[o.Code] {
				continue // claims only "no effect": nothing to check
			}
			if len(o.Muts) == 0 {
				continue // an empty batch changes nothing
			}
			for _, m := range o.Muts {
				in.muts = append(in.muts, mutation{Mutation: m, k: keys.id(m.Key)})
			}
			if o.Status == StatusUnknown {
				// A value is written once, so seeing it proves the write
				// took effect, before the observation and with the observed
				// index. Using that shrinks porcupine's search (pending
				// operations are what makes it expensive) without changing
				// the verdict.
				if seen, ok := obs.firstSeenWritten(o); ok {
					in.status, in.putIndex, in.inferred = StatusOK, seen.lastIndex, true
					ret = seen.at
					in.ret = ret
				}
			}
		}
		ops = append(ops, porcupine.Operation{ClientId: lanes[o.Client], Input: in, Call: o.Invoke, Output: nil, Return: ret, Metadata: o.ID})
	}

	parts := partition(keys, ops)
	parts = addBucketOps(parts, bucketOps)
	if h.Final != nil {
		parts = addFinalRead(h, keys, lanes[finalLane], parts)
	}
	var all []porcupine.Operation
	for _, p := range parts {
		all = append(all, p...)
	}
	model := kvModel(keys, parts)
	res, info := porcupine.CheckOperationsVerbose(model, all, timeout)
	lin := linearizability{result: res, model: model, info: info, operations: len(all), partitions: len(parts)}
	if res == porcupine.Illegal {
		lin.violations = explainIllegal(keys, parts, info)
	}
	return lin
}

// finalLane is the client number under which the final read is shown.
const finalLane = -1

// clientLanes maps client numbers to porcupine's zero-based client ids (the
// visualisation draws one lane per id); the final read gets the last lane.
func clientLanes(h *History) map[int]int {
	var clients []int
	seen := map[int]bool{}
	for _, o := range h.Ops {
		if !seen[o.Client] {
			seen[o.Client] = true
			clients = append(clients, o.Client)
		}
	}
	sort.Ints(clients)
	lanes := map[int]int{}
	for i, c := range clients {
		lanes[c] = i
	}
	lanes[finalLane] = len(clients)
	return lanes
}

// partition splits the operations into connected components of keys touched
// together (a batch joins its keys). A history is linearizable iff each
// component is: operations of different components share no state, and the
// model treats keys independently except inside one operation.
func partition(keys *keyTable, ops []porcupine.Operation) [][]porcupine.Operation {
	parent := make([]int, keys.len())
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(x int) int {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	for _, op := range ops {
		ks := op.Input.(*input).keyIDs()
		for _, k := range ks[1:] {
			parent[find(k)] = find(ks[0])
		}
	}
	byRoot := map[int]int{}
	var parts [][]porcupine.Operation
	for _, op := range ops {
		root := find(op.Input.(*input).keyIDs()[0])
		i, ok := byRoot[root]
		if !ok {
			i = len(parts)
			byRoot[root] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

func (in *input) keyIDs() []int {
	var ks []int
	for _, m := range in.muts {
		ks = append(ks, m.k)
	}
	for _, r := range in.reads {
		ks = append(ks, r.k)
	}
	return ks
}

// addBucketOps adds a copy of every bucket deletion and creation to every
// component: a deletion takes every key at once, so it belongs to all of
// them. Each component may then place its copy at a different instant
// within the deletion's interval; that only drops the atomicity across
// components (as the final read's split does), which can hide a violation,
// never invent one.
func addBucketOps(parts [][]porcupine.Operation, bucketOps []porcupine.Operation) [][]porcupine.Operation {
	for i := range parts {
		parts[i] = append(parts[i], bucketOps...)
	}
	return parts
}

// addFinalRead adds the orchestrator's final read of every key, split into
// one read per component (keys it names that no operation touched form
// components of their own, so a phantom key is caught too). Splitting only
// drops the atomicity of the read across components, which can only hide a
// violation, never invent one.
//
// The final record says when the read returned, not when it was invoked.
// The orchestrator issues it after the clients stopped issuing operations
// (README), so it is taken as invoked after the last completion recorded
// before it: every acknowledged write must be visible to it. Operations
// still pending (unknown outcome) may land before or after it.
func addFinalRead(h *History, keys *keyTable, lane int, parts [][]porcupine.Operation) [][]porcupine.Operation {
	call := int64(0)
	for _, o := range h.Ops {
		if o.Return != Pending && o.Return < h.Final.At && o.Return >= call {
			// porcupine's intervals are closed: start just after it.
			call = o.Return + 1
		}
	}
	reported := map[int]Pair{}
	for _, p := range h.Final.Pairs {
		reported[keys.id(p.Key)] = p
	}
	// Component of each key; keys new to the table get their own.
	comp := make([]int, keys.len())
	for i := range comp {
		comp[i] = -1
	}
	for i, p := range parts {
		for _, op := range p {
			for _, k := range op.Input.(*input).keyIDs() {
				comp[k] = i
			}
		}
	}
	reads := make([][]readExpect, len(parts))
	for k := bucketSlot + 1; k < keys.len(); k++ {
		p, found := reported[k]
		r := readExpect{k: k, found: found, value: p.Value, lastIndex: p.LastIndex}
		if comp[k] < 0 {
			comp[k] = len(reads)
			reads = append(reads, nil)
			parts = append(parts, nil)
		}
		reads[comp[k]] = append(reads[comp[k]], r)
	}
	for i, rs := range reads {
		in := &input{reads: rs, keys: keys, ret: h.Final.At}
		parts[i] = append(parts[i], porcupine.Operation{ClientId: lane, Input: in, Call: call, Return: h.Final.At, Metadata: "final"})
	}
	return parts
}

// explainIllegal names, for each component porcupine could not linearize,
// its keys and the operations no longest partial linearization reaches,
// earliest return first: the likely culprits, to read next to the HTML.
func explainIllegal(keys *keyTable, parts [][]porcupine.Operation, info porcupine.LinearizationInfo) []string {
	var out []string
	for i, partials := range info.PartialLinearizations() {
		if i >= len(parts) {
			break
		}
		reached := map[int]bool{}
		complete := false
		for _, seq := range partials {
			if len(seq) == len(parts[i]) {
				complete = true
			}
			for _, id := range seq {
				reached[id] = true
			}
		}
		if complete {
			continue
		}
		names := map[string]bool{}
		var stuck []porcupine.Operation
		for id, op := range parts[i] {
			for _, k := range op.Input.(*input).keyIDs() {
				names[keys.name(k)] = true
			}
			if !reached[id] {
				stuck = append(stuck, op)
			}
		}
		sort.SliceStable(stuck, func(a, b int) bool { return stuck[a].Return < stuck[b].Return })
		var ks []string
		for k := range names {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		msg := fmt.Sprintf("not linearizable (keys %s)", strings.Join(ks, ","))
		if len(stuck) > 0 {
			msg += "; first operation no linearization reaches: " + stuck[0].Input.(*input).String()
		}
		out = append(out, msg)
	}
	if len(out) == 0 {
		out = append(out, "not linearizable")
	}
	return out
}
