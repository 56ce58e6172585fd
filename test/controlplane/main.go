// Command kubekv-controlplane runs a real Kubernetes control plane for kubekv's
// tests: kube-apiserver from the k8s.io/kubernetes module and etcd from
// go.etcd.io/etcd/server/v3, each in its own process so the apiserver can be
// restarted while etcd keeps its data. It listens on 127.0.0.1 only.
//
// Subcommands (all take --dir, the state directory):
//
//	pki         create the CA, serving certificate and service-account keys (idempotent)
//	etcd        run embedded etcd on --client-port / --peer-port
//	apiserver   run kube-apiserver on --port against --etcd
//	kubeconfig  sign a client certificate for --user / --group and write a kubeconfig
//	compact     compact etcd at its current revision (old resourceVersions expire)
//	elect       a client-go leaderelection peer, for interop tests
//
// The TypeScript wrapper in index.ts drives these; people use `npm run controlplane`.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kubekv-controlplane pki|etcd|apiserver|kubeconfig|compact|elect [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "pki":
		err = runPKI(args)
	case "etcd":
		dieWithParent()
		err = runEtcd(args)
	case "apiserver":
		dieWithParent()
		err = runAPIServer(args)
	case "kubeconfig":
		err = runKubeconfig(args)
	case "compact":
		err = runCompact(args)
	case "elect":
		dieWithParent()
		err = runElect(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubekv-controlplane %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
