package main

// Histories of the spaces issue 16 opened to the harness: bucket deletions
// and recreations (by a kubekv store or by hand), hand edits of foreign keys,
// large values, and endings that contradict the server. Each bad history
// here is one a broken store could write; the checker must fail it.

import (
	"fmt"
	"strings"
	"testing"
)

// The nemesis's lane in these histories.
const nemesis = -2

func deleteBucket(id string, at int64, by string) string {
	return inv(id, nemesis, at, fmt.Sprintf(`"op":"deleteBucket","by":%q`, by))
}
func createBucket(id string, at int64, by string) string {
	return inv(id, nemesis, at, fmt.Sprintf(`"op":"createBucket","by":%q`, by))
}
func editBucket(id string, at int64) string {
	return inv(id, nemesis, at, `"op":"editBucket","by":"hand","foreignPrefix":"hand."`)
}
func bucketOK(id string, at int64) string { return ok(id, at, `{}`) }
func del(key string) string               { return fmt.Sprintf(`"op":"delete","key":%q`, key) }

// A bucket deleted over [30,40] and created again over [50,60].
func deletedAndRecreated(by string) []string {
	return []string{
		deleteBucket("n-1", 30, by), bucketOK("n-1", 40),
		createBucket("n-2", 50, by), bucketOK("n-2", 60),
	}
}

func lines(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func expectViolation(t *testing.T, what string, ls ...string) Summary {
	t.Helper()
	s, code := check(t, ls...)
	if code != 1 {
		t.Fatalf("want a violation (%s), got exit %d: %+v", what, code, s)
	}
	t.Log(s.Violations)
	return s
}

func TestBucketDeletionDeletesEveryKey(t *testing.T) {
	before := []string{
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		inv("1-2", 1, 10, put("/proto/", "1-2")), ok("1-2", 20, at(6)),
	}
	for _, by := range []string{"kubekv", "hand"} {
		t.Run(by, func(t *testing.T) {
			// Gone after the deletion, and a put after it gets a larger index.
			expectPass(t, lines(before, deletedAndRecreated(by), []string{
				inv("2-1", 2, 70, get("k")), ok("2-1", 75, notFound),
				inv("2-2", 2, 80, get("/proto/")), ok("2-2", 85, notFound),
				inv("2-3", 2, 90, put("k", "2-3")), ok("2-3", 95, at(12)),
				final(200, pair("k", "2-3", 12), 12),
			})...)
			// Read during the deletion: either state.
			expectPass(t, lines(before, deletedAndRecreated(by), []string{
				inv("2-1", 2, 25, get("k")), ok("2-1", 35, found("1-1", 5)),
				inv("3-1", 3, 25, get("k")), ok("3-1", 35, notFound),
			})...)
		})
	}
	// A key that survives the deletion.
	expectLinViolation(t, lines(before, deletedAndRecreated("kubekv"), []string{
		inv("2-1", 2, 70, get("k")), ok("2-1", 75, found("1-1", 5)),
	})...)
	// Also in the final read, and for the prototype key.
	expectLinViolation(t, lines(before, deletedAndRecreated("hand"), []string{
		final(200, pair("/proto/", "1-2", 6), 6),
	})...)
	// lastIndex never goes back, not even across a deletion: the recreated
	// bucket's revisions start above the old ones.
	expectLinViolation(t, lines(before, deletedAndRecreated("hand"), []string{
		inv("2-1", 2, 70, put("k", "2-1")), ok("2-1", 75, at(1)),
	})...)
	// No put lands while the bucket is deleted.
	expectLinViolation(t, lines(before, []string{
		deleteBucket("n-1", 30, "hand"), bucketOK("n-1", 40),
		inv("2-1", 2, 45, put("j", "2-1")), ok("2-1", 48, at(9)),
		createBucket("n-2", 50, "hand"), bucketOK("n-2", 60),
	})...)
	// ... but a delete of a missing key may answer false, and a write
	// refused BUCKET_NOT_FOUND claims only "no effect".
	expectPass(t, lines(before, []string{
		deleteBucket("n-1", 30, "hand"), bucketOK("n-1", 40),
		inv("2-1", 2, 45, del("j")), ok("2-1", 48, `{"deleted":false}`),
		inv("2-2", 2, 45, put("k", "2-2")), failed("2-2", 48, "BUCKET_NOT_FOUND"),
		createBucket("n-2", 50, "hand"), bucketOK("n-2", 60),
		final(200, "", 9),
	})...)
	// A deletion whose outcome is unknown may or may not have happened.
	for _, after := range []string{found("1-1", 5), notFound} {
		expectPass(t, lines(before, []string{
			deleteBucket("n-1", 30, "kubekv"), unknown("n-1", 40),
			inv("2-1", 2, 70, get("k")), ok("2-1", 75, after),
		})...)
	}
}

func TestWriteThatLandedReportedKeyExists(t *testing.T) {
	// A create-only atomicPut lands, its answer is lost; the bucket is
	// deleted and recreated and another store writes k; the writer reads
	// back, finds a different bucket, and claims its write was refused.
	history := lines([]string{
		inv("1-1", 1, 10, atomicPut("k", "1-1", `"absent"`)),
		inv("3-1", 3, 15, get("k")), ok("3-1", 20, found("1-1", 3)),
	}, deletedAndRecreated("hand"), []string{
		inv("2-1", 2, 65, put("k", "2-1")), ok("2-1", 70, at(9)),
		failed("1-1", 80, "KEY_EXISTS"),
	})
	s := expectViolation(t, "KEY_EXISTS for a write that landed", history...)
	if s.Linearizable != "violation" {
		t.Fatalf("want porcupine to refuse it: %+v", s)
	}
	// Seen only by a watch: the value of a failed write.
	s = expectViolation(t, "watched value of a refused write", lines([]string{
		inv("1-1", 1, 10, atomicPut("k", "1-1", `"absent"`)),
		watchStart(4, 5), snapshot(4, 6, 1, ""), watchPut(4, 15, "k", "1-1", 3),
	}, deletedAndRecreated("hand"), []string{
		watchDelete(4, 35, "k", 3),
		inv("2-1", 2, 65, put("k", "2-1")), ok("2-1", 70, at(9)),
		watchPut(4, 72, "k", "2-1", 9),
		failed("1-1", 80, "KEY_EXISTS"),
	})...)
	if !strings.Contains(strings.Join(s.Violations, "\n"), "which failed") {
		t.Fatalf("want the failed writer named: %v", s.Violations)
	}
	// The same with a plain put: re-planned and written again over the
	// newer value (mine, theirs, mine): one value at two lastIndexes.
	expectViolation(t, "a value written twice", lines([]string{
		inv("1-1", 1, 10, put("k", "1-1")),
		inv("3-1", 3, 15, get("k")), ok("3-1", 20, found("1-1", 3)),
	}, deletedAndRecreated("kubekv"), []string{
		inv("2-1", 2, 65, put("k", "2-1")), ok("2-1", 70, at(9)),
		ok("1-1", 80, at(11)),
	})...)
}

func TestCacheGoesBackToDeletedBucket(t *testing.T) {
	// Deleted [30,40], recreated [50,60], k written at 10 in the new bucket.
	base := lines(deletedAndRecreated("hand"), []string{
		inv("2-1", 2, 70, put("k", "2-1")), ok("2-1", 80, at(10)),
	})
	cacheNewer := []string{inv("3-1", 3, 90, cget("k")), ok("3-1", 95, found("2-1", 10))}
	// Stale but legal: found nothing before the client saw the new state.
	expectPass(t, lines(base, []string{inv("3-1", 3, 90, cget("k")), ok("3-1", 95, notFound)})...)
	// A later deletion of the bucket makes the empty cache legal again.
	expectPass(t, lines(base, cacheNewer, []string{
		deleteBucket("n-3", 96, "kubekv"), bucketOK("n-3", 99),
		inv("3-2", 3, 100, cget("k")), ok("3-2", 105, notFound),
	})...)
	// Back to "no bucket" after the newer state was seen: a cache read...
	s, code := check(t, lines(base, cacheNewer, []string{inv("3-2", 3, 100, cget("k")), ok("3-2", 105, notFound)})...)
	if code != 1 || s.CacheReadViolations != 1 {
		t.Fatalf("want a cache-read violation, got exit %d: %+v", code, s)
	}
	t.Log(s.Violations)
	// ... also when the newer state was seen only by the client's watch ...
	s, code = check(t, lines(base, []string{
		watchStart(3, 62), snapshot(3, 63, 9, ""), watchPut(3, 85, "k", "2-1", 10),
		inv("3-2", 3, 100, cget("k")), ok("3-2", 105, notFound),
	})...)
	if code != 1 || s.CacheReadViolations != 1 {
		t.Fatalf("want a cache-read violation, got exit %d: %+v", code, s)
	}
	t.Log(s.Violations)
	// ... and the watch itself: a delete event, or a snapshot without k,
	// with no deletion after k@10 was written.
	for name, events := range map[string][]string{
		"delete event":       {watchDelete(3, 100, "k", 10)},
		"snapshot without k": {watchStart(3, 99), snapshot(3, 100, 10, "")},
	} {
		t.Run(name, func(t *testing.T) {
			s, code := check(t, lines(base, []string{watchStart(3, 62), snapshot(3, 63, 9, ""), watchPut(3, 85, "k", "2-1", 10)}, events)...)
			if code != 1 || s.WatchViolations == 0 {
				t.Fatalf("want a watch violation, got exit %d: %+v", code, s)
			}
			t.Log(s.Violations)
		})
	}
	// A watch through a deletion: delete events for every key, the
	// revision of a recreated bucket kubekv has not written yet, then
	// larger lastIndexes.
	expectPass(t, lines([]string{
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		inv("1-2", 1, 21, put("j", "1-2")), ok("1-2", 25, at(6)),
		watchStart(3, 5), snapshot(3, 6, 4, ""),
		watchPut(3, 22, "k", "1-1", 5), watchPut(3, 26, "j", "1-2", 6),
	}, deletedAndRecreated("hand"), []string{
		watchDelete(3, 41, "k", 6), watchDelete(3, 41, "j", 6),
		`{"t":"watch-error","client":3,"at":"42","code":"BUCKET_NOT_FOUND"}`,
		watchStart(3, 61), snapshot(3, 62, 0, ""),
		inv("2-1", 2, 70, put("k", "2-1")), ok("2-1", 80, at(10)),
		watchPut(3, 85, "k", "2-1", 10),
		final(100, pair("k", "2-1", 10), 10),
		clientEnd(3, 110),
	})...)
	// But lastIndex still never goes back on the watch.
	s, code = check(t, lines([]string{
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		watchStart(3, 5), snapshot(3, 6, 4, ""), watchPut(3, 22, "k", "1-1", 5),
	}, deletedAndRecreated("hand"), []string{
		watchDelete(3, 41, "k", 5),
		inv("2-1", 2, 70, put("k", "2-1")), unknown("2-1", 80),
		watchPut(3, 85, "k", "2-1", 1),
	})...)
	if code != 1 || !strings.Contains(strings.Join(s.Violations, "\n"), "went back") {
		t.Fatalf("want lastIndex going back flagged, got exit %d: %+v", code, s)
	}
}

func TestForeignKeysOfHandEditsAreIgnored(t *testing.T) {
	expectPass(t,
		editBucket("n-1", 5), bucketOK("n-1", 8),
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		watchStart(3, 1), snapshot(3, 2, 4, pair("hand.x", "", 0)),
		watchPut(3, 7, "hand.y", "note", 0), watchPut(3, 22, "k", "1-1", 5), watchDelete(3, 30, "hand.x", 5),
		final(100, pair("k", "1-1", 5)+","+pair("hand.y", "note", 0), 5),
		clientEnd(3, 110),
	)
	// Without the edit record they are phantoms.
	expectLinViolation(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		final(100, pair("k", "1-1", 5)+","+pair("hand.y", "note", 0), 5),
	)
	// The workload must not use the hand edits' keys: bad input.
	s, code := check(t, editBucket("n-1", 5), bucketOK("n-1", 8), inv("1-1", 1, 10, put("hand.k", "1-1")), ok("1-1", 20, at(5)))
	if code != 2 || !strings.Contains(s.Error, "hand edits") {
		t.Fatalf("want bad input, got exit %d: %+v", code, s)
	}
}

func TestLargeValuesCompareByIdAndSize(t *testing.T) {
	large := `"op":"put","key":"k","value":"1-1","size":300000`
	expectPass(t,
		inv("1-1", 1, 10, large), ok("1-1", 20, at(5)),
		inv("2-1", 2, 30, get("k")), ok("2-1", 40, `{"found":true,"value":"1-1","size":300000,"lastIndex":5}`),
		`{"t":"final","at":"100","pairs":[{"key":"k","value":"1-1","size":300000,"lastIndex":5}],"revision":5}`,
	)
	// The value read back is cut short.
	expectLinViolation(t,
		inv("1-1", 1, 10, large), ok("1-1", 20, at(5)),
		inv("2-1", 2, 30, get("k")), ok("2-1", 40, `{"found":true,"value":"1-1","size":262144,"lastIndex":5}`),
	)
}

func TestUnknownEndingOfARefusedWrite(t *testing.T) {
	s, code := check(t,
		inv("1-1", 1, 10, put("k", "1-1")),
		`{"t":"unknown","id":"1-1","at":"20","code":"OUTCOME_UNKNOWN","cause":"etcdserver: request is too large"}`,
	)
	if code != 1 || s.OutcomeViolations != 1 || s.Linearizable != "ok" {
		t.Fatalf("want an outcome violation, got exit %d: %+v", code, s)
	}
	t.Log(s.Violations)
}

func TestLaggingWatchDeliversTheOldBucketAfterItsDeletion(t *testing.T) {
	// k@5 written at 10, bucket deleted [30,40] and recreated by hand [50,60];
	// the watch, lagging, delivers k@5 only at 45, then the deletion, whose
	// events carry the recreated bucket's revision 0.
	expectPass(t, lines([]string{
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		watchStart(3, 5), snapshot(3, 6, 4, ""),
	}, deletedAndRecreated("hand"), []string{
		watchPut(3, 45, "k", "1-1", 5),
		watchDelete(3, 65, "k", 0),
		clientEnd(3, 110),
		final(100, "", 0),
	})...)
	// Without a deletion after the write, going back to 0 is still caught.
	s, code := check(t,
		inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(5)),
		watchStart(3, 5), snapshot(3, 6, 4, ""),
		watchPut(3, 45, "k", "1-1", 5),
		watchDelete(3, 65, "k", 0),
	)
	if code != 1 || !strings.Contains(strings.Join(s.Violations, "\n"), "revision went back") {
		t.Fatalf("want the revision going back flagged, got exit %d: %+v", code, s)
	}
}
