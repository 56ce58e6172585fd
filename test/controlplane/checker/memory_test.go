package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runUnbounded is run with no memory limit that a test history can reach.
func runUnbounded(historyPath, outDir string, timeout time.Duration) (Summary, int) {
	return run(historyPath, outDir, timeout, 1<<62, func(Summary, int) { panic("memory limit passed") })
}

func TestWatchMemoryCallsOncePastTheLimit(t *testing.T) {
	got := make(chan uint64, 2)
	stop := watchMemory(1, time.Millisecond, func(used uint64) { got <- used })
	defer stop()
	select {
	case used := <-got:
		if used <= 1 {
			t.Fatalf("reported %d bytes, not above the limit", used)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the limit of 1 byte was never reported passed")
	}
	time.Sleep(20 * time.Millisecond)
	if len(got) != 0 {
		t.Fatal("reported more than once")
	}
	quiet := make(chan uint64, 1)
	stopQuiet := watchMemory(1<<62, time.Millisecond, func(used uint64) { quiet <- used })
	time.Sleep(20 * time.Millisecond)
	stopQuiet()
	if len(quiet) != 0 {
		t.Fatal("reported a limit that was not passed")
	}
}

// A search cut short by the memory limit is inconclusive (exit 2), never a
// pass, and the cheaper checks' violations still decide the exit code.
func TestMemoryLimitMakesTheCheckInconclusive(t *testing.T) {
	for name, tc := range map[string]struct {
		lines []string
		code  int
	}{
		"clean history": {[]string{inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1))}, 2},
		"a phantom cache read as well": {[]string{
			inv("1-1", 1, 10, put("k", "1-1")), ok("1-1", 20, at(1)),
			inv("2-1", 2, 30, cget("k")), ok("2-1", 40, found("nobody", 1)),
		}, 1},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "history.jsonl")
		if err := os.WriteFile(path, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		type ending struct {
			s    Summary
			code int
		}
		cut := make(chan ending, 1)
		// A limit of one byte is passed at the first look, before the search
		// starts. (In the command, finish exits; here run goes on.)
		if _, whole := run(path, filepath.Join(dir, "out"), 10*time.Second, 1, func(s Summary, code int) { cut <- ending{s, code} }); whole == 2 {
			t.Errorf("%s: without the limit the check is not inconclusive", name)
		}
		var s Summary
		var code int
		select {
		case e := <-cut:
			s, code = e.s, e.code
		default:
			t.Fatalf("%s: the memory limit was never reported passed", name)
		}
		if code != tc.code || s.Linearizable != "inconclusive" || !strings.Contains(s.Error, "memory limit") {
			t.Errorf("%s: got exit %d, %q, %q; want exit %d, inconclusive, a memory-limit error", name, code, s.Linearizable, s.Error, tc.code)
		}
	}
}
