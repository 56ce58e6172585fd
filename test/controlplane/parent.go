package main

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dieWithParent makes a long-running subcommand exit when the process that
// started it goes away, so a crashed or killed test run never leaves an
// apiserver or etcd behind. PR_SET_PDEATHSIG covers the common case; polling
// the parent pid covers a parent thread exiting (the signal follows the thread
// that forked us) and a parent that died before prctl ran.
func dieWithParent() {
	parent := os.Getppid()
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	if os.Getenv("KUBEKV_CONTROLPLANE_DETACHED") == "1" {
		return
	}
	go func() {
		for {
			if os.Getppid() != parent {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				time.Sleep(5 * time.Second)
				os.Exit(1)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
}
