package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// defaultMemberName is the single member's name; with it the data and log
// paths are those of the single topology (etcd, etcd.log).
const defaultMemberName = "kubekv-test"

// runEtcd runs one etcd member with its data under --dir/etcd, so restarting
// it (restartAll) keeps every object. fsync is off: the tests need durability
// across process restarts, not across power loss.
//
// By default it is a single-member cluster. For the HA topology the wrapper
// starts three processes with --name, one shared --initial-cluster
// (name=peerURL,...) and --initial-cluster-state new; each member then keeps
// its data under --dir/etcd-<name> and logs to etcd-<name>.log, so all three
// share one state directory. A restarted member finds its data directory and
// rejoins from its WAL (etcd ignores the initial-cluster flags then).
func runEtcd(args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory")
	clientPort := fs.Int("client-port", 0, "client port on 127.0.0.1")
	peerPort := fs.Int("peer-port", 0, "peer port on 127.0.0.1")
	name := fs.String("name", defaultMemberName, "member name")
	initialCluster := fs.String("initial-cluster", "", "name=peerURL,... of every member (default: this member alone)")
	initialClusterState := fs.String("initial-cluster-state", "new", "new or existing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *clientPort == 0 || *peerPort == 0 {
		return errors.New("--dir, --client-port and --peer-port are required")
	}
	dataName, logName := "etcd", "etcd.log"
	if *name != defaultMemberName {
		dataName, logName = "etcd-"+*name, "etcd-"+*name+".log"
	}
	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = filepath.Join(*dir, dataName)
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", *clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", *peerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if *initialCluster != "" {
		cfg.InitialCluster = *initialCluster
	}
	cfg.ClusterState = *initialClusterState
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{filepath.Join(*dir, logName)}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		return errors.New("etcd did not become ready within 60s")
	}
	// The wrapper waits for this exact line before starting the apiserver.
	fmt.Printf("etcd ready %s\n", clientURL.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-stop:
		return nil
	case err := <-e.Err():
		return err
	}
}
