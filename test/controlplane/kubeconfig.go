package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// runKubeconfig writes a kubeconfig for any identity, including
// system:serviceaccount:<ns>:<name>, authenticated by a client certificate
// from the test CA. RBAC then applies to that identity exactly as in a cluster.
func runKubeconfig(args []string) error {
	fs := flag.NewFlagSet("kubeconfig", flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory")
	server := fs.String("server", "", "apiserver URL")
	user := fs.String("user", "", "user name (certificate CN)")
	groups := fs.String("groups", "", "comma-separated groups (certificate O)")
	namespace := fs.String("namespace", "", "default namespace of the context")
	out := fs.String("out", "", "kubeconfig path to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *server == "" || *user == "" || *out == "" {
		return errors.New("--dir, --server, --user and --out are required")
	}
	var groupList []string
	for _, g := range strings.Split(*groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groupList = append(groupList, g)
		}
	}
	certPEM, keyPEM, err := signClientCert(*dir, *user, groupList)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(*dir, caCertFile))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubekv-test"] = &clientcmdapi.Cluster{Server: *server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[*user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["kubekv-test"] = &clientcmdapi.Context{Cluster: "kubekv-test", AuthInfo: *user, Namespace: *namespace}
	cfg.CurrentContext = "kubekv-test"
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, *out)
}
