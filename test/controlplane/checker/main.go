// Command kubekv-check is the history checker of kubekv's robustness harness
// (test/robustness/README.md is its contract):
//
//	kubekv-check --history <history.jsonl> --out <dir> [--timeout 120s] [--max-memory-mib 8192]
//
// It prints one JSON summary line and exits 0 when every claim holds, 1 on
// any violation, 2 when it cannot decide (porcupine timed out or passed its
// memory limit, or the history is malformed). Neither limit is ever
// reported as a pass.
//
// It lives in its own main package so the control-plane binary does not
// link porcupine.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Summary is the JSON line printed on stdout.
type Summary struct {
	Operations Counts `json:"operations"`
	// BucketOps are the bucket deletions, creations and hand edits
	// (deleteBucket, createBucket, editBucket), not counted in Operations.
	BucketOps           Counts `json:"bucketOps"`
	Linearizable        string `json:"linearizable"` // ok | violation | inconclusive
	CacheReadViolations int    `json:"cacheReadViolations"`
	WatchViolations     int    `json:"watchViolations"`
	// OutcomeViolations are endings that contradict what the server said
	// (outcomes.go): an unknown outcome for a write the server refused.
	OutcomeViolations int      `json:"outcomeViolations"`
	Violations        []string `json:"violations"`
	// ViolationCount is the number of violations found (Violations lists at most maxListed).
	ViolationCount int   `json:"violationCount"`
	CheckMs        int64 `json:"checkMs"`
	// Error says why the check could not decide (bad input, or the
	// linearizability search timed out); exit code 2 unless a violation was
	// found anyway.
	Error string `json:"error,omitempty"`
}

// Counts are the recorded outcomes of every invoked operation.
type Counts struct {
	OK      int `json:"ok"`
	Fail    int `json:"fail"`
	Unknown int `json:"unknown"`
}

// maxListed bounds the violations printed in the summary line; the full
// list goes to <out>/violations.txt.
const maxListed = 20

func main() {
	historyPath := flag.String("history", "", "history file (JSON lines)")
	outDir := flag.String("out", "", "directory for linearizability.html and violations.txt")
	timeout := flag.Duration("timeout", 120*time.Second, "time limit of the linearizability search (exceeded: inconclusive)")
	maxMemoryMiB := flag.Uint64("max-memory-mib", 8192, "heap limit of the linearizability search, in MiB (exceeded: inconclusive)")
	flag.Parse()
	if *historyPath == "" || *outDir == "" {
		fmt.Fprintln(os.Stderr, "usage: kubekv-check --history <history.jsonl> --out <dir> [--timeout 120s] [--max-memory-mib 8192]")
		os.Exit(2)
	}
	var once sync.Once
	finish := func(summary Summary, code int) {
		once.Do(func() { printSummary(summary, code) })
	}
	summary, code := run(*historyPath, *outDir, *timeout, *maxMemoryMiB<<20, finish)
	finish(summary, code)
}

// printSummary prints the summary line and exits with code.
func printSummary(summary Summary, code int) {
	enc := json.NewEncoder(os.Stdout) // one line, ending in a newline
	enc.SetEscapeHTML(false)          // keep "->" readable
	if err := enc.Encode(summary); err != nil {
		fmt.Fprintln(os.Stderr, "kubekv-check:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// run checks one history and returns the summary and the exit code. If the
// linearizability search passes maxHeap bytes, it calls finish itself, from
// another goroutine, with the other checks' verdicts and an inconclusive
// linearizability (finish exits the process).
func run(historyPath, outDir string, timeout time.Duration, maxHeap uint64, finish func(Summary, int)) (Summary, int) {
	started := time.Now()
	summary := Summary{Linearizable: "inconclusive", Violations: []string{}}
	fail := func(err error) (Summary, int) {
		summary.Error = err.Error()
		summary.CheckMs = time.Since(started).Milliseconds()
		fmt.Fprintln(os.Stderr, "kubekv-check:", err)
		return summary, 2
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fail(err)
	}
	f, err := os.Open(historyPath)
	if err != nil {
		return fail(err)
	}
	h, err := ParseHistory(f)
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("bad history %s: %w", historyPath, err))
	}
	for _, op := range h.Ops {
		counts := &summary.Operations
		if op.IsBucketOp() {
			counts = &summary.BucketOps
		}
		switch op.Status {
		case StatusOK:
			counts.OK++
		case StatusFail:
			counts.Fail++
		default:
			counts.Unknown++
		}
	}

	obs := newObservations(h)
	// The cheap checks first: their verdicts stand if the search is cut short.
	cache := checkCacheReads(h, obs)
	watch := checkWatches(h, obs)
	outcomes := checkOutcomes(h)
	summary.CacheReadViolations = len(cache)
	summary.WatchViolations = len(watch)
	summary.OutcomeViolations = len(outcomes)
	others := append(append(append([]string{}, cache...), watch...), outcomes...)

	base := summary // what is known before the search; the closure must not read summary while run writes it
	stop := watchMemory(maxHeap, 250*time.Millisecond, func(used uint64) {
		cut := base
		cut.Error = fmt.Sprintf("linearizability search passed its memory limit (%d MiB of heap, limit %d MiB) after %s: inconclusive", used>>20, maxHeap>>20, time.Since(started).Round(time.Second))
		fmt.Fprintln(os.Stderr, "kubekv-check:", cut.Error)
		code := 2
		if len(others) > 0 {
			code = 1
		}
		if err := writeViolations(outDir, others); err != nil {
			fmt.Fprintln(os.Stderr, "kubekv-check:", err)
		}
		listViolations(&cut, others)
		cut.CheckMs = time.Since(started).Milliseconds()
		finish(cut, code)
	})
	lin := checkLinearizability(h, obs, timeout)
	stop()

	all := []string{} // [] rather than null in the summary
	switch lin.result {
	case porcupine.Ok:
		summary.Linearizable = "ok"
	case porcupine.Illegal:
		summary.Linearizable = "violation"
		all = append(all, lin.violations...)
	default:
		// Not a violation (the list holds only those): say it in error.
		summary.Linearizable = "inconclusive"
		summary.Error = fmt.Sprintf("linearizability check timed out after %s (%d operations in %d partitions): inconclusive", timeout, lin.operations, lin.partitions)
		fmt.Fprintln(os.Stderr, "kubekv-check:", summary.Error)
	}
	all = append(all, others...)

	// The visualisation needs a finished search; after a timeout the
	// partial linearizations mean little.
	if lin.result != porcupine.Unknown {
		if err := porcupine.VisualizePath(lin.model, lin.info, filepath.Join(outDir, "linearizability.html")); err != nil {
			return fail(fmt.Errorf("writing the visualisation: %w", err))
		}
	}
	if err := writeViolations(outDir, all); err != nil {
		return fail(err)
	}
	listViolations(&summary, all)
	summary.CheckMs = time.Since(started).Milliseconds()
	switch {
	case lin.result == porcupine.Illegal || len(cache) > 0 || len(watch) > 0 || len(outcomes) > 0:
		return summary, 1
	case lin.result == porcupine.Unknown:
		return summary, 2
	}
	return summary, 0
}

// writeViolations writes every violation, one per line, to <out>/violations.txt.
func writeViolations(outDir string, all []string) error {
	text := strings.Join(all, "\n")
	if text != "" {
		text += "\n"
	}
	return os.WriteFile(filepath.Join(outDir, "violations.txt"), []byte(text), 0o644)
}

// listViolations puts the first maxListed violations and their count into the summary.
func listViolations(summary *Summary, all []string) {
	summary.Violations = append([]string{}, all...)
	summary.ViolationCount = len(all)
	if len(all) > maxListed {
		summary.Violations = append(append([]string{}, all[:maxListed]...), fmt.Sprintf("... and %d more in violations.txt", len(all)-maxListed))
	}
}
