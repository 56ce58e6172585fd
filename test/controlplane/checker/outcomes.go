package main

// What an ending claims beyond the model: etcd's "request is too large" is
// a definite refusal (the API server wrote nothing, and an identical CAS
// sent before it cannot have landed either: it would have met the same
// limit or moved the resourceVersion on, making this one a 409). A write
// that the store ends OUTCOME_UNKNOWN with that as its cause is therefore a
// wrong ending: it should have been refused with BUCKET_FULL.

import (
	"fmt"
	"strings"
)

// definiteCauses are causes that prove a write was not stored.
var definiteCauses = []string{"request is too large"}

// checkOutcomes returns the unknown endings whose recorded cause proves
// the write was refused.
func checkOutcomes(h *History) []string {
	var out []string
	for _, op := range h.Ops {
		if op.Status != StatusUnknown || op.Cause == "" || op.IsBucketOp() {
			continue
		}
		for _, c := range definiteCauses {
			if strings.Contains(strings.ToLower(op.Cause), c) {
				out = append(out, fmt.Sprintf("write %s by client %d ended %s though the server refused it (%q): a definite refusal (BUCKET_FULL), not an unknown outcome", op.ID, op.Client, op.Code, op.Cause))
				break
			}
		}
	}
	return out
}
