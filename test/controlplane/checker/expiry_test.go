package main

// Expiry (issue 20): a put with ttlMs lets its key vanish without an
// operation of the history, from the put's invoke + ttlMs on, never before.
// Times are nanoseconds; ttlMs 1 is 1,000,000 of them.

import "testing"

func putTTL(key, value string, ttlMs int) string {
	return put(key, value) + `,"ttlMs":` + itoa(ttlMs)
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

const ms = 1_000_000

func TestExpiredKeyMayVanishAfterItsTtl(t *testing.T) {
	expectPass(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 2)), ok("1-1", 20, at(1)),
		inv("2-1", 2, 30, get("k")), ok("2-1", 40, found("1-1", 1)), // still there
		inv("2-2", 2, 2*ms, get("k")), ok("2-2", 2*ms+20, notFound), // expired
		inv("2-3", 2, 2*ms+30, get("k")), ok("2-3", 2*ms+40, notFound),
		final(3*ms, "", 2),
	)
	// Seen by a create, a conditional delete and a delete that find it gone; by a cache read, a watch and the final read.
	expectPass(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 1)), ok("1-1", 20, at(1)),
		inv("1-2", 1, 10, putTTL("j", "1-2", 1)), ok("1-2", 20, at(2)),
		inv("1-3", 1, 10, putTTL("m", "1-3", 1)), ok("1-3", 20, at(3)),
		inv("1-4", 1, 10, putTTL("w", "1-4", 1)), ok("1-4", 20, at(4)),
		watchStart(3, 5), snapshot(3, 6, 0, ""),
		watchPut(3, 21, "k", "1-1", 1), watchPut(3, 22, "j", "1-2", 2), watchPut(3, 23, "m", "1-3", 3), watchPut(3, 24, "w", "1-4", 4),
		watchDelete(3, ms+11, "k", 5), watchDelete(3, ms+12, "j", 6), watchDelete(3, ms+13, "m", 7), watchDelete(3, ms+14, "w", 8),
		inv("2-1", 2, 2*ms, atomicPut("k", "2-1", `"absent"`)), ok("2-1", 2*ms+10, at(9)),
		inv("2-2", 2, 2*ms, `"op":"atomicDelete","key":"j","prev":2`), failed("2-2", 2*ms+10, "KEY_NOT_FOUND"),
		inv("2-3", 2, 2*ms, `"op":"delete","key":"m"`), ok("2-3", 2*ms+10, `{"deleted":false}`),
		inv("2-4", 2, 2*ms, cget("w")), ok("2-4", 2*ms+10, notFound),
		watchPut(3, 2*ms+20, "k", "2-1", 9),
		clientEnd(3, 3*ms),
		final(3*ms, pair("k", "2-1", 9), 9),
	)
}

func TestFailedBatchWhoseCreateFoundAnExpiredKey(t *testing.T) {
	// The create's condition held only because k had expired; j's then failed.
	batch := `"op":"batch","ops":[{"op":"put","key":"k","value":"2-1/0","expect":"absent"},{"op":"delete","key":"j","expect":1}]`
	expectPass(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 1)), ok("1-1", 20, at(2)),
		inv("1-2", 1, 30, put("j", "1-2")), ok("1-2", 40, at(3)),
		inv("2-1", 2, 2*ms, batch), failed("2-1", 2*ms+10, "KEY_MODIFIED"),
		inv("2-2", 2, 2*ms+20, get("k")), ok("2-2", 2*ms+30, notFound),
	)
	// Before k's TTL the same failure would have to say KEY_EXISTS.
	expectLinViolation(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 2)), ok("1-1", 20, at(2)),
		inv("1-2", 1, 30, put("j", "1-2")), ok("1-2", 40, at(3)),
		inv("2-1", 2, ms, batch), failed("2-1", ms+10, "KEY_MODIFIED"),
	)
}

func TestKeyVanishingBeforeItsTtlIsCaught(t *testing.T) {
	// Read gone 0.5 ms after a put with a 2 ms TTL.
	expectLinViolation(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 2)), ok("1-1", 20, at(1)),
		inv("2-1", 2, ms/2, get("k")), ok("2-1", ms/2+10, notFound),
	)
	// A create that succeeded before the TTL ran out.
	expectLinViolation(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 2)), ok("1-1", 20, at(1)),
		inv("2-1", 2, ms, atomicPut("k", "2-1", `"absent"`)), ok("2-1", ms+10, at(2)),
	)
	// Timed from the put's invoke: a put invoked at 1 ms with a 2 ms TTL lives until 3 ms at least.
	expectLinViolation(t,
		inv("1-1", 1, ms, putTTL("k", "1-1", 2)), ok("1-1", ms+20, at(1)),
		inv("2-1", 2, 2*ms+ms/2, get("k")), ok("2-1", 2*ms+ms/2+10, notFound),
	)
	// A key without TTL never vanishes by itself.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("2-1", 2, 5*ms, get("k")), ok("2-1", 5*ms+10, notFound),
	)
	// A later put without TTL makes it permanent again.
	expectLinViolation(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 1)), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")), ok("1-2", 40, at(2)),
		inv("2-1", 2, 5*ms, get("k")), ok("2-1", 5*ms+10, notFound),
	)
	// An expired key does not come back.
	expectLinViolation(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 1)), ok("1-1", 20, at(1)),
		inv("2-1", 2, 2*ms, get("k")), ok("2-1", 2*ms+10, notFound),
		inv("2-2", 2, 2*ms+20, get("k")), ok("2-2", 2*ms+30, found("1-1", 1)),
	)
}

func TestWatchAndCacheSeeingAKeyGoneBeforeItsTtlAreCaught(t *testing.T) {
	s, code := check(t,
		inv("1-1", 1, 10, putTTL("w", "1-1", 2)), ok("1-1", 20, at(1)),
		watchStart(3, 5), snapshot(3, 6, 0, ""), watchPut(3, 25, "w", "1-1", 1),
		inv("2-1", 2, 30, cget("w")), ok("2-1", 40, found("1-1", 1)),
		inv("2-2", 2, 50, cget("w")), ok("2-2", 60, notFound),
		watchDelete(3, 70, "w", 2),
		clientEnd(3, 3*ms),
		final(3*ms, "", 2),
	)
	if code != 1 || s.WatchViolations == 0 || s.CacheReadViolations == 0 {
		t.Fatalf("want watch and cache-read violations, got exit %d: %+v", code, s)
	}
}

func TestKeyExpiringAfterTheFinalRead(t *testing.T) {
	// The final read (revision 3: a compaction after k@2 changed no key)
	// sees k; k expires at revision 4 before the client ends. Its watch
	// delivered the final state, then the expiry.
	expectPass(t,
		inv("1-1", 1, 10, putTTL("k", "1-1", 1)), ok("1-1", 20, at(2)),
		watchStart(3, 5), snapshot(3, 6, 1, ""), watchPut(3, 25, "k", "1-1", 2),
		final(ms/2, pair("k", "1-1", 2), 3),
		watchDelete(3, ms+20, "k", 4),
		clientEnd(3, 2*ms),
	)
	// Without the TTL the same delete is caught.
	s, code := check(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(2)),
		watchStart(3, 5), snapshot(3, 6, 1, ""), watchPut(3, 25, "k", "1-1", 2),
		final(ms/2, pair("k", "1-1", 2), 3),
		watchDelete(3, ms+20, "k", 4),
		clientEnd(3, 2*ms),
	)
	if code != 1 || s.WatchViolations == 0 {
		t.Fatalf("want a watch violation, got exit %d: %+v", code, s)
	}
}
