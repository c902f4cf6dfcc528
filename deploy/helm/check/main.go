// Command check validates rendered Kubernetes manifests (a multi-document
// YAML stream, as `helm template` prints) against the Kubernetes API types
// with the API server's own strict decoder: an unknown or duplicate field,
// a wrong type or an unknown kind is an error. It also checks what a
// schema cannot: a Deployment's selector matches its pod labels, and every
// volume mount names a volume. It is its own module so that osflow's
// go.mod carries no Kubernetes dependency.
//
//	helm template osflow ../osflow | go run . -
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: check FILE|-")
		os.Exit(2)
	}
	in := os.Stdin
	if os.Args[1] != "-" {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		in = f
	}
	kinds, err := check(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, k := range kinds {
		fmt.Println("ok", k)
	}
}

func check(in io.Reader) ([]string, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	dec := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
	r := utilyaml.NewYAMLReader(bufio.NewReader(in))
	var out []string
	var errs []error
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		name := gvk.Kind
		if m, ok := obj.(interface{ GetName() string }); ok {
			name += "/" + m.GetName()
		}
		if d, ok := obj.(*appsv1.Deployment); ok {
			if err := checkDeployment(d); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
		}
		out = append(out, name)
	}
	return out, errors.Join(errs...)
}

func checkDeployment(d *appsv1.Deployment) error {
	if d.Spec.Selector == nil {
		return errors.New("no selector")
	}
	sel, err := labelsSelector(d)
	if err != nil {
		return err
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		return fmt.Errorf("selector %s does not match the pod labels %v", sel, d.Spec.Template.Labels)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return errors.New("no containers")
	}
	volumes := map[string]bool{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Image == "" {
			return fmt.Errorf("container %s has no image", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				return fmt.Errorf("container %s mounts volume %q, which the pod does not have", c.Name, m.Name)
			}
		}
	}
	return nil
}

func labelsSelector(d *appsv1.Deployment) (labels.Selector, error) {
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if len(d.Spec.Selector.MatchExpressions) > 0 {
		return nil, errors.New("matchExpressions are not used by this chart")
	}
	return sel, nil
}

// stripComments drops YAML comment lines, so that a document holding only
// comments (a template that rendered nothing) is skipped.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
