package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// runElect contends for a Lease with client-go's own leaderelection package,
// the compatibility target of kubekv's LeaseElector. It prints one JSON line
// per event on stdout ({"event":"started"|"stopped"|"leader","identity",...,"at":unixMillis})
// so an interop test can check that leadership intervals never overlap.
// SIGTERM cancels the context; with --release the Lease is released.
func runElect(args []string) error {
	fs := flag.NewFlagSet("elect", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig path")
	namespace := fs.String("namespace", "", "Lease namespace")
	name := fs.String("name", "", "Lease name")
	identity := fs.String("identity", "", "holder identity")
	leaseDuration := fs.Duration("lease-duration", 15*time.Second, "LeaseDuration")
	renewDeadline := fs.Duration("renew-deadline", 10*time.Second, "RenewDeadline")
	retryPeriod := fs.Duration("retry-period", 2*time.Second, "RetryPeriod")
	release := fs.Bool("release", true, "ReleaseOnCancel")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || *namespace == "" || *name == "" || *identity == "" {
		return errors.New("--kubeconfig, --namespace, --name and --identity are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, *namespace, *name,
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: *identity})
	if err != nil {
		return err
	}

	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(event, who string) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(map[string]any{"event": event, "identity": who, "at": time.Now().UnixMilli()})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; cancel() }()

	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: *release,
		Name:            *name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { emit("started", *identity) },
			OnStoppedLeading: func() { emit("stopped", *identity) },
			OnNewLeader:      func(who string) { emit("leader", who) },
		},
	})
	if err != nil {
		return err
	}
	emit("ready", *identity)
	// Run returns when leadership is lost or ctx ends; keep contending until
	// we are told to stop, as a restarted replica would.
	for ctx.Err() == nil {
		le.Run(ctx)
	}
	return nil
}
