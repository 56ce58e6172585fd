package main

// Hand-made histories, small enough to reason about: linearizable ones must
// pass and broken ones must be caught. Times are plain small numbers.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func inv(id string, client int, at int64, fields string) string {
	return fmt.Sprintf(`{"t":"invoke","id":%q,"client":%d,"at":"%d",%s}`, id, client, at, fields)
}
func ok(id string, at int64, result string) string {
	return fmt.Sprintf(`{"t":"ok","id":%q,"at":"%d","result":%s}`, id, at, result)
}
func failed(id string, at int64, code string) string {
	return fmt.Sprintf(`{"t":"fail","id":%q,"at":"%d","code":%q}`, id, at, code)
}
func unknown(id string, at int64) string {
	return fmt.Sprintf(`{"t":"unknown","id":%q,"at":"%d","code":"OUTCOME_UNKNOWN"}`, id, at)
}
func put(key, value string) string { return fmt.Sprintf(`"op":"put","key":%q,"value":%q`, key, value) }
func get(key string) string        { return fmt.Sprintf(`"op":"get","key":%q,"consistent":true`, key) }
func cget(key string) string       { return fmt.Sprintf(`"op":"get","key":%q,"consistent":false`, key) }
func atomicPut(key, value, prev string) string {
	return fmt.Sprintf(`"op":"atomicPut","key":%q,"value":%q,"prev":%s`, key, value, prev)
}
func found(value string, idx int) string {
	return fmt.Sprintf(`{"found":true,"value":%q,"lastIndex":%d}`, value, idx)
}
func at(idx int) string { return fmt.Sprintf(`{"lastIndex":%d}`, idx) }

const notFound = `{"found":false}`

func final(t int64, pairs string, rev int) string {
	return fmt.Sprintf(`{"t":"final","at":"%d","pairs":[%s],"revision":%d}`, t, pairs, rev)
}
func pair(key, value string, idx int) string {
	return fmt.Sprintf(`{"key":%q,"value":%q,"lastIndex":%d}`, key, value, idx)
}
func watchStart(client int, t int64) string {
	return fmt.Sprintf(`{"t":"watch-start","client":%d,"at":"%d"}`, client, t)
}
func snapshot(client int, t int64, rev int, pairs string) string {
	return fmt.Sprintf(`{"t":"watch","client":%d,"at":"%d","type":"snapshot","pairs":[%s],"revision":%d}`, client, t, pairs, rev)
}
func watchPut(client int, t int64, key, value string, idx int) string {
	return fmt.Sprintf(`{"t":"watch","client":%d,"at":"%d","type":"put","key":%q,"value":%q,"lastIndex":%d,"revision":%d}`, client, t, key, value, idx, idx)
}
func watchDelete(client int, t int64, key string, rev int) string {
	return fmt.Sprintf(`{"t":"watch","client":%d,"at":"%d","type":"delete","key":%q,"revision":%d}`, client, t, key, rev)
}
func clientEnd(client int, t int64) string {
	return fmt.Sprintf(`{"t":"client-end","client":%d,"at":"%d"}`, client, t)
}

// check runs the checker on the lines and returns its summary and exit code.
func check(t *testing.T, lines ...string) (Summary, int) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, code := runUnbounded(path, filepath.Join(dir, "out"), 10*time.Second)
	return s, code
}

func expectPass(t *testing.T, lines ...string) {
	t.Helper()
	s, code := check(t, lines...)
	if code != 0 || s.Linearizable != "ok" {
		t.Fatalf("want pass, got exit %d: %+v", code, s)
	}
}

func expectLinViolation(t *testing.T, lines ...string) Summary {
	t.Helper()
	s, code := check(t, lines...)
	if code != 1 || s.Linearizable != "violation" {
		t.Fatalf("want a linearizability violation, got exit %d: %+v", code, s)
	}
	t.Log(s.Violations)
	return s
}

func TestLinearizableHistoryPasses(t *testing.T) {
	expectPass(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		inv("2-1", 2, 15, get("k")), ok("2-1", 25, found("1-1", 5)), // concurrent with the put
		inv("1-2", 1, 30, atomicPut("k", "1-2", "5")), ok("1-2", 40, at(7)),
		inv("2-2", 2, 30, atomicPut("k", "2-2", "5")), failed("2-2", 45, "KEY_MODIFIED"),
		inv("2-3", 2, 50, atomicPut("j", "2-3", `"absent"`)), ok("2-3", 60, at(8)),
		inv("1-3", 1, 50, `"op":"delete","key":"k"`), ok("1-3", 60, `{"deleted":true}`),
		inv("1-4", 1, 70, `"op":"delete","key":"k"`), ok("1-4", 80, `{"deleted":false}`),
		inv("2-4", 2, 70, `"op":"atomicDelete","key":"j","prev":8`), ok("2-4", 80, `{}`),
		inv("2-5", 2, 90, get("j")), ok("2-5", 95, notFound),
		inv("1-5", 1, 90, put("k", "1-5")), failed("1-5", 95, "UNAVAILABLE"), // no effect
		final(200, "", 9),
	)
}

func TestStaleReadAfterAcknowledgedPut(t *testing.T) {
	s := expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")), ok("1-2", 40, at(2)),
		inv("2-1", 2, 50, get("k")), ok("2-1", 60, found("1-1", 1)),
	)
	if !strings.Contains(s.Violations[0], "keys k") {
		t.Fatalf("violation should name the key: %q", s.Violations[0])
	}
}

func TestLostUpdateBothAtomicPutsSucceed(t *testing.T) {
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, atomicPut("k", "1-2", "1")), ok("1-2", 50, at(2)),
		inv("2-1", 2, 30, atomicPut("k", "2-1", "1")), ok("2-1", 50, at(3)),
	)
}

func TestDeleteFalseWhileKeyPresent(t *testing.T) {
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, `"op":"delete","key":"k"`), ok("1-2", 40, `{"deleted":false}`),
	)
}

func TestLastIndexMustIncrease(t *testing.T) {
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		inv("1-2", 1, 30, put("k", "1-2")), ok("1-2", 40, at(5)),
	)
}

func TestUnjustifiedConditionFailures(t *testing.T) {
	// KEY_EXISTS on a key nobody wrote.
	expectLinViolation(t,
		inv("1-1", 1, 10, atomicPut("k", "1-1", `"absent"`)), failed("1-1", 20, "KEY_EXISTS"),
	)
	// KEY_MODIFIED while the key has exactly the expected index.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(3)),
		inv("1-2", 1, 30, atomicPut("k", "1-2", "3")), failed("1-2", 40, "KEY_MODIFIED"),
	)
	// The wrong code: the key is absent, so kubekv says KEY_NOT_FOUND.
	expectLinViolation(t,
		inv("1-1", 1, 10, `"op":"atomicDelete","key":"k","prev":3`), failed("1-1", 20, "KEY_MODIFIED"),
	)
	// A condition code on an unconditional write.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), failed("1-1", 20, "KEY_EXISTS"),
	)
}

func TestUnknownWriteMayOrMayNotTakeEffect(t *testing.T) {
	// Took effect: its value is read, with an index nobody reported, which
	// a later atomicPut then relies on.
	expectPass(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")), unknown("1-2", 40),
		inv("2-1", 2, 50, get("k")), ok("2-1", 60, found("1-2", 4)),
		inv("2-2", 2, 70, atomicPut("k", "2-2", "4")), ok("2-2", 80, at(6)),
	)
	// Never took effect (the client was killed: no completion at all).
	expectPass(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")),
		inv("2-1", 2, 50, get("k")), ok("2-1", 60, found("1-1", 1)),
		inv("2-2", 2, 70, atomicPut("k", "2-2", "1")), ok("2-2", 80, at(6)),
		final(100, pair("k", "2-2", 6), 6),
	)
	// An unknown atomicPut whose condition may hold only once the index of
	// an unknown put is pinned down.
	expectPass(t,
		inv("1-1", 1, 10, put("k", "1-1")), unknown("1-1", 20),
		inv("1-2", 1, 30, atomicPut("k", "1-2", "3")), unknown("1-2", 40),
		inv("2-1", 2, 50, get("k")), ok("2-1", 60, found("1-2", 5)),
		final(100, pair("k", "1-2", 5), 5),
	)
}

func TestUnknownWriteObservedThenLost(t *testing.T) {
	// Once a read saw the unknown write, it took effect: reading the older
	// value afterwards is a stale read.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")), unknown("1-2", 40),
		inv("2-1", 2, 50, get("k")), ok("2-1", 60, found("1-2", 2)),
		inv("2-2", 2, 70, get("k")), ok("2-2", 80, found("1-1", 1)),
	)
	// Seen before it was invoked: a phantom.
	expectLinViolation(t,
		inv("2-1", 2, 10, get("k")), ok("2-1", 20, found("1-1", 2)),
		inv("1-1", 1, 30, put("k", "1-1")), unknown("1-1", 40),
	)
}

func TestFailedWriteSeen(t *testing.T) {
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), failed("1-1", 20, "UNAVAILABLE"),
		inv("2-1", 2, 30, get("k")), ok("2-1", 40, found("1-1", 1)),
	)
}

func TestBatchIsAllOrNothing(t *testing.T) {
	batch := `"op":"batch","ops":[{"op":"put","key":"a","value":"1-1"},{"op":"put","key":"b","value":"1-1","expect":"absent"}]`
	expectPass(t,
		inv("1-1", 1, 10, batch), ok("1-1", 20, `{"revision":5}`),
		inv("2-1", 2, 30, get("a")), ok("2-1", 40, found("1-1", 5)),
		inv("2-2", 2, 30, get("b")), ok("2-2", 40, found("1-1", 5)),
		inv("2-3", 2, 50, `"op":"batch","ops":[{"op":"delete","key":"a","expect":5},{"op":"put","key":"b","value":"2-3","expect":4}]`),
		failed("2-3", 60, "KEY_MODIFIED"),
		inv("2-4", 2, 70, get("a")), ok("2-4", 80, found("1-1", 5)),
		final(100, pair("a", "1-1", 5)+","+pair("b", "1-1", 5), 5),
	)
	// Half applied: a was written, b was not.
	expectLinViolation(t,
		inv("1-1", 1, 10, batch), ok("1-1", 20, `{"revision":5}`),
		inv("2-1", 2, 30, get("a")), ok("2-1", 40, found("1-1", 5)),
		inv("2-2", 2, 30, get("b")), ok("2-2", 40, notFound),
	)
	// A failed batch whose conditions all held.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("a", "1-1")), ok("1-1", 20, at(3)),
		inv("2-1", 2, 30, `"op":"batch","ops":[{"op":"delete","key":"a","expect":3},{"op":"put","key":"b","value":"2-1","expect":"absent"}]`),
		failed("2-1", 40, "KEY_MODIFIED"),
	)
	// A failed batch changes nothing, even its first operation.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("a", "1-1")), ok("1-1", 20, at(3)),
		inv("2-1", 2, 30, `"op":"batch","ops":[{"op":"delete","key":"a","expect":3},{"op":"put","key":"b","value":"2-1","expect":7}]`),
		failed("2-1", 40, "KEY_NOT_FOUND"),
		inv("2-2", 2, 50, get("a")), ok("2-2", 60, notFound),
	)
}

func TestFinalReadMustSeeAcknowledgedWrites(t *testing.T) {
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")), ok("1-2", 40, at(2)),
		final(100, pair("k", "1-1", 1), 2),
	)
	// A key nobody wrote.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		final(100, pair("k", "1-1", 1)+","+pair("z", "9-9", 1), 1),
	)
}

func TestCacheReads(t *testing.T) {
	base := []string{
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")), ok("1-2", 40, at(2)),
	}
	// Stale but real values are fine for another client.
	expectPass(t, append(base[:len(base):len(base)],
		inv("2-1", 2, 50, cget("k")), ok("2-1", 60, found("1-1", 1)),
		inv("2-2", 2, 70, cget("k")), ok("2-2", 80, found("1-2", 2)),
	)...)

	cases := map[string][]string{
		"phantom":     {inv("2-1", 2, 50, cget("k")), ok("2-1", 60, found("9-9", 1))},
		"wrong index": {inv("2-1", 2, 50, cget("k")), ok("2-1", 60, found("1-1", 2))},
		"monotonic reads": {
			inv("2-1", 2, 50, cget("k")), ok("2-1", 60, found("1-2", 2)),
			inv("2-2", 2, 70, cget("k")), ok("2-2", 80, found("1-1", 1)),
		},
		"read your writes": {inv("1-3", 1, 50, cget("k")), ok("1-3", 60, found("1-1", 1))},
		"value of a failed write": {
			inv("2-1", 2, 50, put("k", "2-1")), failed("2-1", 60, "UNAVAILABLE"),
			inv("3-1", 3, 70, cget("k")), ok("3-1", 80, found("2-1", 3)),
		},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			s, code := check(t, append(base[:len(base):len(base)], extra...)...)
			if code != 1 || s.CacheReadViolations != 1 || s.Linearizable != "ok" {
				t.Fatalf("want one cache-read violation, got exit %d: %+v", code, s)
			}
			t.Log(s.Violations)
		})
	}
}

func TestWatch(t *testing.T) {
	writes := []string{
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("1-2", 1, 30, put("k", "1-2")), ok("1-2", 40, at(2)),
		inv("1-3", 1, 50, `"op":"delete","key":"k"`), ok("1-3", 60, `{"deleted":true}`),
		inv("1-4", 1, 70, put("j", "1-4")), ok("1-4", 80, at(4)),
		final(100, pair("j", "1-4", 4), 4),
	}
	w := func(extra ...string) []string { return append(writes[:len(writes):len(writes)], extra...) }
	good := []string{
		watchStart(2, 5), snapshot(2, 6, 0, ""),
		watchPut(2, 25, "k", "1-1", 1), watchPut(2, 45, "k", "1-2", 2),
		watchDelete(2, 65, "k", 3),
		// A reconnect: the new snapshot repeats what was delivered.
		`{"t":"watch-error","client":2,"at":"66","code":"UNAVAILABLE"}`,
		watchStart(2, 67), snapshot(2, 68, 3, ""),
		watchPut(2, 85, "j", "1-4", 4),
		clientEnd(2, 110),
	}
	expectPass(t, w(good...)...)

	cases := map[string][]string{
		"goes back": {
			watchStart(2, 5), snapshot(2, 6, 0, ""),
			watchPut(2, 45, "k", "1-2", 2), watchPut(2, 46, "k", "1-1", 1),
		},
		"duplicate": {
			watchStart(2, 5), snapshot(2, 6, 0, ""),
			watchPut(2, 25, "k", "1-1", 1), watchPut(2, 26, "k", "1-1", 1),
		},
		"snapshot goes back": {
			watchStart(2, 5), snapshot(2, 6, 0, ""),
			watchPut(2, 45, "k", "1-2", 2),
			watchStart(2, 46), snapshot(2, 47, 1, pair("k", "1-1", 1)),
		},
		"phantom": {watchStart(2, 5), snapshot(2, 6, 0, ""), watchPut(2, 25, "k", "7-7", 1)},
		"final state not delivered": {
			watchStart(2, 5), snapshot(2, 6, 0, ""),
			watchPut(2, 25, "k", "1-1", 1),
			clientEnd(2, 110),
		},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			s, code := check(t, w(extra...)...)
			if code != 1 || s.WatchViolations == 0 || s.Linearizable != "ok" {
				t.Fatalf("want a watch violation, got exit %d: %+v", code, s)
			}
			t.Log(s.Violations)
		})
	}

	// An unknown write still in flight at the final read lands after it:
	// the watch was at the final state before it moved on.
	t.Run("write landing after the final read", func(t *testing.T) {
		late := append(writes[:len(writes)-1:len(writes)-1],
			inv("3-1", 3, 90, put("j", "3-1")), unknown("3-1", 95),
			final(100, pair("j", "1-4", 4), 4),
		)
		late = append(late, good[:len(good)-1]...)
		late = append(late, watchPut(2, 105, "j", "3-1", 5), clientEnd(2, 110))
		expectPass(t, late...)
	})

	// Two watchers disagree on what k@2 holds.
	t.Run("watchers disagree", func(t *testing.T) {
		s, code := check(t, w(
			inv("3-1", 3, 31, put("k", "3-1")), unknown("3-1", 41),
			watchPut(2, 45, "k", "1-2", 2),
			watchPut(4, 45, "k", "3-1", 2),
		)...)
		if code != 1 || s.WatchViolations == 0 {
			t.Fatalf("want a watch violation, got exit %d: %+v", code, s)
		}
		t.Log(s.Violations)
	})
}

func TestVisualisationWritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	lines := []string{
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
		inv("2-1", 2, 30, get("k")), ok("2-1", 40, notFound),
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, code := runUnbounded(path, out, 10*time.Second); code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"linearizability.html", "violations.txt"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s not written: %v", f, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	for name, lines := range map[string][]string{
		"not json":                  {`{"t":"invoke"`},
		"completion without invoke": {ok("1-1", 20, at(1))},
		"two completions":           {inv("1-1", 1, 10, put("k", "v")), ok("1-1", 20, at(1)), ok("1-1", 21, at(1))},
		"ok without result field":   {inv("1-1", 1, 10, put("k", "v")), ok("1-1", 20, `{}`)},
	} {
		t.Run(name, func(t *testing.T) {
			s, code := check(t, lines...)
			if code != 2 || s.Error == "" || s.Linearizable != "inconclusive" {
				t.Fatalf("want bad input, got exit %d: %+v", code, s)
			}
		})
	}
}

// A chunk deleted by hand (issue 19) makes stores fail reads and writes
// with CHUNK_MISSING: a failed get observed nothing (whatever the bucket
// held), a failed write claims "no effect" and is held to it.
func TestChunkMissingEndings(t *testing.T) {
	expectPass(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		inv("2-1", 2, 30, get("k")), failed("2-1", 40, "CHUNK_MISSING"),
		inv("2-2", 2, 50, put("k", "2-2")), failed("2-2", 60, "CHUNK_MISSING"),
		inv("1-2", 1, 70, get("k")), ok("1-2", 80, found("1-1", 5)),
		final(200, pair("k", "1-1", 5), 5),
	)
	expectLinViolation(t,
		inv("2-2", 2, 50, put("k", "2-2")), failed("2-2", 60, "CHUNK_MISSING"),
		inv("1-2", 1, 70, get("k")), ok("1-2", 80, found("2-2", 6)),
	)
}
