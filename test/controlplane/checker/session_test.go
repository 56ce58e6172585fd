package main

// Sessions (issue 20): a key bound to a session may vanish with no
// operation of the history from its session's VanishFrom on (the close's
// invoke, the loss's invoke, or the open's invoke + ttlMs), never before,
// and never comes back.

import (
	"strings"
	"testing"
)

func openSession(ttlMs int) string { return `"op":"sessionOpen","ttlMs":` + itoa(ttlMs) }
func opened(id string, at int64, session string) string {
	return ok(id, at, `{"session":"`+session+`"}`)
}
func closeSession(session string) string { return `"op":"sessionClose","session":"` + session + `"` }
func abandonSession(session string) string {
	return `"op":"sessionAbandon","session":"` + session + `"`
}
func loseSession(session string) string {
	return `"op":"sessionLost","session":"` + session + `"`
}
func putIn(key, value, session string) string {
	return put(key, value) + `,"session":"` + session + `"`
}

func TestClosedSessionKeysVanishFromTheCloseOn(t *testing.T) {
	// Open (5 ms TTL), bind k, read it, close at 1 ms: gone from then on, for every reader.
	expectPass(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("1-3", 1, 50, `"op":"atomicPut","key":"j","value":"1-3","prev":"absent","session":"s1"`), ok("1-3", 60, at(2)),
		inv("2-1", 2, 70, get("k")), ok("2-1", 80, found("1-2", 1)),
		inv("1-4", 1, ms, closeSession("s1")), ok("1-4", ms+30, `{}`),
		inv("2-2", 2, ms+40, get("k")), ok("2-2", ms+50, notFound),
		inv("2-3", 2, ms+60, get("j")), ok("2-3", ms+70, notFound),
		final(2*ms, "", 3),
	)
	// A batch put bound to the session; the close's commit may land while the close is in flight.
	expectPass(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, `"op":"batch","ops":[{"op":"put","key":"k","value":"1-2/0","session":"s1"},{"op":"put","key":"j","value":"1-2/1","ttlMs":9}]`), ok("1-2", 40, `{"revision":1}`),
		inv("1-3", 1, ms, closeSession("s1")),
		inv("2-1", 2, ms+10, get("k")), ok("2-1", ms+20, notFound),
		inv("2-2", 2, ms+30, get("j")), ok("2-2", ms+40, found("1-2/1", 1)),
		ok("1-3", ms+50, `{}`),
	)
}

func TestSessionKeyVanishingEarlyIsCaught(t *testing.T) {
	// Gone before its session's close was invoked (and before open + ttlMs).
	expectLinViolation(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("2-1", 2, ms, get("k")), ok("2-1", ms+10, notFound),
		inv("1-3", 1, 2*ms, closeSession("s1")), ok("1-3", 2*ms+10, `{}`),
	)
	// Abandoned: its owner stopped renewing at 1 ms, but no sweeper may end
	// it before the open's invoke + ttlMs (5 ms): gone at 3 ms is early.
	expectLinViolation(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("1-3", 1, ms, abandonSession("s1")), ok("1-3", ms, `{}`),
		inv("2-1", 2, 3*ms, get("k")), ok("2-1", 3*ms+10, notFound),
	)
	// ... and after it, it may go (the same history at 6 ms passes).
	expectPass(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("1-3", 1, ms, abandonSession("s1")), ok("1-3", ms, `{}`),
		inv("2-1", 2, 6*ms, get("k")), ok("2-1", 6*ms+10, notFound),
	)
	// A key written again without the session after its session bound it is
	// no longer the session's: the close must not take it.
	expectLinViolation(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("2-1", 2, 50, put("k", "2-1")), ok("2-1", 60, at(2)),
		inv("1-3", 1, ms, closeSession("s1")), ok("1-3", ms+10, `{}`),
		inv("2-2", 2, 2*ms, get("k")), ok("2-2", 2*ms+10, notFound),
	)
	// A create that succeeded on the session's key before its close.
	expectLinViolation(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("2-1", 2, ms, atomicPut("k", "2-1", `"absent"`)), ok("2-1", ms+10, at(2)),
		inv("1-3", 1, 2*ms, closeSession("s1")), ok("1-3", 2*ms+10, `{}`),
	)
}

// The owner lost the session (renewals failed past its renew deadline) and
// released the Lease once it could, so a sweeper ended it before the open's
// invoke + ttlMs: from the loss on that is allowed, before it is not.
func TestLostSessionKeysVanishFromTheLossOn(t *testing.T) {
	expectPass(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("1-3", 1, 2*ms, loseSession("s1")), ok("1-3", 2*ms, `{}`),
		inv("2-1", 2, 3*ms, get("k")), ok("2-1", 3*ms+10, notFound),
	)
	// Gone at 1 ms, before the loss at 2 ms (and before open + ttlMs): early.
	expectLinViolation(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("2-1", 2, ms, get("k")), ok("2-1", ms+10, notFound),
		inv("1-3", 1, 2*ms, loseSession("s1")), ok("1-3", 2*ms, `{}`),
	)
	// The watches follow the same bound: a delete after the loss is explained.
	s, code := check(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("w", "1-2", "s1")), ok("1-2", 40, at(1)),
		watchStart(3, 5), snapshot(3, 6, 0, ""), watchPut(3, 45, "w", "1-2", 1),
		inv("1-3", 1, ms, loseSession("s1")), ok("1-3", ms, `{}`),
		watchDelete(3, ms+90, "w", 2),
		clientEnd(3, 2*ms),
		final(2*ms, "", 2),
	)
	if code != 0 || s.WatchViolations != 0 {
		t.Fatalf("want a pass, got exit %d: %+v", code, s)
	}
}

func TestSessionKeyComingBackIsCaught(t *testing.T) {
	expectLinViolation(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("k", "1-2", "s1")), ok("1-2", 40, at(1)),
		inv("1-3", 1, ms, closeSession("s1")), ok("1-3", ms+10, `{}`),
		inv("2-1", 2, ms+20, get("k")), ok("2-1", ms+30, notFound),
		inv("2-2", 2, ms+40, get("k")), ok("2-2", ms+50, found("1-2", 1)),
	)
}

func TestWatchSeeingASessionKeyGoneBeforeItsCloseIsCaught(t *testing.T) {
	s, code := check(t,
		inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"),
		inv("1-2", 1, 30, putIn("w", "1-2", "s1")), ok("1-2", 40, at(1)),
		watchStart(3, 5), snapshot(3, 6, 0, ""), watchPut(3, 45, "w", "1-2", 1),
		inv("2-1", 2, 50, cget("w")), ok("2-1", 60, found("1-2", 1)),
		inv("2-2", 2, 70, cget("w")), ok("2-2", 80, notFound),
		watchDelete(3, 90, "w", 2),
		inv("1-3", 1, ms, closeSession("s1")), ok("1-3", ms+10, `{}`),
		clientEnd(3, 2*ms),
		final(2*ms, "", 2),
	)
	if code != 1 || s.WatchViolations == 0 || s.CacheReadViolations == 0 {
		t.Fatalf("want watch and cache-read violations, got exit %d: %+v", code, s)
	}
}

func TestBadSessionInput(t *testing.T) {
	for name, lines := range map[string][]string{
		"put bound to a session never opened": {inv("1-1", 1, 10, putIn("k", "1-1", "nope")), ok("1-1", 20, at(1))},
		"close of a session never opened":     {inv("1-1", 1, 10, closeSession("nope")), ok("1-1", 20, `{}`)},
		"loss of a session never opened":      {inv("1-1", 1, 10, loseSession("nope")), ok("1-1", 20, `{}`)},
		"open without ttlMs":                  {inv("1-1", 1, 10, `"op":"sessionOpen"`), opened("1-1", 20, "s1")},
		"open ok without its id":              {inv("1-1", 1, 10, openSession(5)), ok("1-1", 20, `{}`)},
		"ttlMs and session on one put":        {inv("1-1", 1, 10, openSession(5)), opened("1-1", 20, "s1"), inv("1-2", 1, 30, putTTL("k", "1-2", 1)+`,"session":"s1"`), ok("1-2", 40, at(1))},
	} {
		if _, err := ParseHistory(strings.NewReader(strings.Join(lines, "\n"))); err == nil {
			t.Errorf("%s: parsed without an error", name)
		}
	}
}
