package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// runAPIServer runs the real kube-apiserver command in this process with the
// flags envtest and kwok use for a controller-less control plane: RBAC on,
// client certificates from our CA, no ServiceAccount admission (there is no
// controller-manager to create default ServiceAccounts) and no endpoint
// reconciler (nothing routes to 127.0.0.1 as a Service backend).
func runAPIServer(args []string) error {
	fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory")
	port := fs.Int("port", 0, "secure port on 127.0.0.1")
	etcd := fs.String("etcd", "", "etcd client URLs, comma-separated (--etcd-servers)")
	verbosity := fs.Int("v", 0, "apiserver log verbosity")
	coordinated := fs.Bool("coordinated-leader-election", false,
		"enable the CoordinatedLeaderElection feature gate and the coordination.k8s.io/v1beta1 API (LeaseCandidate), both off by default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *port == 0 || *etcd == "" {
		return errors.New("--dir, --port and --etcd are required")
	}
	if err := ensurePKI(*dir); err != nil {
		return err
	}
	p := func(name string) string { return filepath.Join(*dir, name) }
	flags := []string{
		"--etcd-servers=" + *etcd,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", *port),
		"--cert-dir=" + p("apiserver-certs"),
		"--tls-cert-file=" + p(servingCert),
		"--tls-private-key-file=" + p(servingKey),
		"--client-ca-file=" + p(caCertFile),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + p(saPublicKey),
		"--service-account-signing-key-file=" + p(saPrivateKey),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		fmt.Sprintf("--v=%d", *verbosity),
	}
	if *coordinated {
		// Beta and off by default through 1.36: the gate turns on the
		// apiserver's leader election controller and keeps
		// spec.strategy/preferredHolder; the beta API serves LeaseCandidate.
		flags = append(flags, "--feature-gates=CoordinatedLeaderElection=true", "--runtime-config=coordination.k8s.io/v1beta1=true")
	}
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(flags)
	return cmd.Execute()
}
