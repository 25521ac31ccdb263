// kstatus prints what sigs.k8s.io/cli-utils/pkg/kstatus/status (the library Flux and kpt use) computes for
// Kubernetes objects: it reads one object or a List as JSON on stdin (kubectl get -o json) and writes one JSON
// line per object: {"kind", "namespace", "name", "status", "message"}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type line struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading stdin:", err)
		os.Exit(2)
	}
	var doc map[string]interface{}
	if err := json.Unmarshal(data, &doc); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: stdin is not a JSON object:", err)
		os.Exit(2)
	}
	objects := []map[string]interface{}{doc}
	if items, ok := doc["items"].([]interface{}); ok {
		objects = objects[:0]
		for _, item := range items {
			if obj, ok := item.(map[string]interface{}); ok {
				objects = append(objects, obj)
			}
		}
	}
	out := json.NewEncoder(os.Stdout)
	for _, obj := range objects {
		// Decode again through unstructured so numbers become int64 as they do in client-go.
		raw, _ := json.Marshal(obj)
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: not a Kubernetes object:", err)
			os.Exit(2)
		}
		result, err := status.Compute(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: compute:", err)
			os.Exit(1)
		}
		_ = out.Encode(line{u.GetKind(), u.GetNamespace(), u.GetName(), result.Status.String(), result.Message})
	}
}
