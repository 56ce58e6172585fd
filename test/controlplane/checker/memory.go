package main

// The linearizability search's memory bound. Porcupine's search of one
// large partition can grow without end before its timeout: the 22,062
// operations of a 15-minute run reached 24 GiB in seven minutes and the
// kernel killed the checker (and could as well have killed the control
// plane of whatever else ran). Past the limit the search ends, and the
// verdict is inconclusive, never a pass.

import (
	"runtime/metrics"
	"time"
)

// heapMetric is the bytes of live and not yet swept heap objects: what
// grows with porcupine's search, cheap to read (no stop of the world).
const heapMetric = "/memory/classes/heap/objects:bytes"

// watchMemory calls exceeded once when the heap passes limit bytes: at
// once (from the caller's goroutine) if it already has, else from its own
// goroutine, which looks every period; stop ends the watch.
func watchMemory(limit uint64, period time.Duration, exceeded func(used uint64)) (stop func()) {
	sample := []metrics.Sample{{Name: heapMetric}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	if used := heap(); used > limit {
		exceeded(used)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		ticker := time.NewTicker(period)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				if used := heap(); used > limit {
					exceeded(used)
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
