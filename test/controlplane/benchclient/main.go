// Command kubekv-benchclient is the client-go reference of
// bench/transport.bench.ts: what a bare, unthrottled client-go clientset
// (JSON, HTTP/2, one kept-alive connection) costs per request against the
// same apiserver kubekv talks to.
//
//	kubekv-benchclient --kubeconfig <path> --namespace <ns>
//
// It reads one JSON command per line on stdin and answers each with one JSON
// line on stdout ({"error": "..."} on failure), so the bench can start it
// once per kubeconfig (direct, or through a counting TCP proxy) and read the
// proxy's counters between commands. Commands ("count" sequential requests
// unless said otherwise; "ms" lists per-request latencies in milliseconds):
//
//	{"op":"ensure","name":N}             create a small ConfigMap N if absent
//	{"op":"copy","from":A,"to":B}        (re)create B with A's data and binaryData
//	{"op":"get","name":N,"count":C}      GETs of N                         -> {"ms":[...]}
//	{"op":"patch","name":N,"count":C}    merge PATCHes of one small key of N, each
//	                                     conditional on the resourceVersion the
//	                                     previous answer returned (a CAS, as a
//	                                     kubekv put is)                    -> {"ms":[...]}
//	{"op":"naive","name":N,"count":C,"durationMs":D}
//	                                     the naive store: per put GET + full
//	                                     Update, retried on 409; stops after C
//	                                     puts or D ms, whichever comes first
//	                                     -> {"ops":n,"seconds":s,"ms":[...]}
//
// It lives in its own main package so the control-plane binary's cache key
// (the Go files at the module's top level) does not change with it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// requestTimeout bounds every request, so a stuck apiserver fails the
// command instead of hanging the bench.
const requestTimeout = 30 * time.Second

type command struct {
	Op         string `json:"op"`
	Name       string `json:"name"`
	From       string `json:"from"`
	To         string `json:"to"`
	Count      int    `json:"count"`
	DurationMs int    `json:"durationMs"`
}

type client struct {
	cs        kubernetes.Interface
	namespace string
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig path")
	namespace := flag.String("namespace", "", "namespace of the ConfigMaps")
	flag.Parse()
	if *kubeconfig == "" || *namespace == "" {
		fmt.Fprintln(os.Stderr, "usage: kubekv-benchclient --kubeconfig <path> --namespace <ns>")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Unthrottled: a negative QPS disables client-go's rate limiter
	// (the default, QPS 5 / burst 10, would cap every figure here).
	config.QPS = -1
	cs, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c := &client{cs: cs, namespace: *namespace}

	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var cmd command
		var result any
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			result = map[string]string{"error": err.Error()}
		} else if r, err := c.run(cmd); err != nil {
			result = map[string]string{"error": err.Error()}
		} else {
			result = r
		}
		if err := out.Encode(result); err != nil {
			os.Exit(1)
		}
	}
}

func (c *client) run(cmd command) (any, error) {
	switch cmd.Op {
	case "ensure":
		return struct{}{}, c.ensure(cmd.Name)
	case "copy":
		return struct{}{}, c.copy(cmd.From, cmd.To)
	case "get":
		ms, err := timeEach(cmd.Count, func(int) error {
			_, err := c.get(cmd.Name)
			return err
		})
		return map[string]any{"ms": ms}, err
	case "patch":
		return c.patch(cmd.Name, cmd.Count)
	case "naive":
		return c.naive(cmd.Name, cmd.Count, time.Duration(cmd.DurationMs)*time.Millisecond)
	default:
		return nil, fmt.Errorf("unknown op %q", cmd.Op)
	}
}

func (c *client) get(name string) (*corev1.ConfigMap, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	return c.cs.CoreV1().ConfigMaps(c.namespace).Get(ctx, name, metav1.GetOptions{})
}

func (c *client) ensure(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"small": "0"}}
	_, err := c.cs.CoreV1().ConfigMaps(c.namespace).Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (c *client) copy(from, to string) error {
	src, err := c.get(from)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	api := c.cs.CoreV1().ConfigMaps(c.namespace)
	if err := api.Delete(ctx, to, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	dst := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: to, Annotations: src.Annotations}, Data: src.Data, BinaryData: src.BinaryData}
	_, err = api.Create(ctx, dst, metav1.CreateOptions{})
	return err
}

// patch times `count` conditional merge patches of the key "small".
func (c *client) patch(name string, count int) (any, error) {
	cm, err := c.get(name)
	if err != nil {
		return nil, err
	}
	rv := cm.ResourceVersion
	api := c.cs.CoreV1().ConfigMaps(c.namespace)
	ms, err := timeEach(count, func(i int) error {
		body, err := json.Marshal(map[string]any{
			"metadata": map[string]string{"resourceVersion": rv},
			"data":     map[string]string{"small": strconv.Itoa(i)},
		})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		cm, err := api.Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
		if err != nil {
			return err
		}
		rv = cm.ResourceVersion
		return nil
	})
	return map[string]any{"ms": ms}, err
}

// naive is the k8s-kv / mapstore pattern: read the ConfigMap, change one key,
// write the whole object back with its resourceVersion; retry on 409.
func (c *client) naive(name string, count int, limit time.Duration) (any, error) {
	api := c.cs.CoreV1().ConfigMaps(c.namespace)
	started := time.Now()
	var ms []float64
	for i := 0; (count <= 0 || i < count) && (limit <= 0 || time.Since(started) < limit); i++ {
		t := time.Now()
		for {
			cm, err := c.get(name)
			if err != nil {
				return nil, err
			}
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data["k"+strconv.Itoa(i%50)] = "v" + strconv.Itoa(i)
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			_, err = api.Update(ctx, cm, metav1.UpdateOptions{})
			cancel()
			if err == nil {
				break
			}
			if !apierrors.IsConflict(err) {
				return nil, err
			}
		}
		ms = append(ms, float64(time.Since(t).Microseconds())/1000)
	}
	seconds := time.Since(started).Seconds()
	return map[string]any{"ops": len(ms), "seconds": seconds, "ms": ms}, nil
}

func timeEach(count int, fn func(int) error) ([]float64, error) {
	if count <= 0 {
		return nil, errors.New("count must be positive")
	}
	ms := make([]float64, 0, count)
	for i := 0; i < count; i++ {
		t := time.Now()
		if err := fn(i); err != nil {
			return ms, err
		}
		ms = append(ms, float64(time.Since(t).Microseconds())/1000)
	}
	return ms, nil
}
