package cli

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The shipped Deployment's GOMEMLIMIT is below its container's memory
// limit, with room for what the Go runtime does not manage, and not so far
// below that the collector works for nothing: a soft limit at or over the
// hard one never acts before the kernel kills the pod.
func TestDeploymentMemoryLimit(t *testing.T) {
	b, err := os.ReadFile("../../configs/kubernetes/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name string
						Env  []struct {
							Name  string
							Value string
						}
						Resources struct {
							Limits map[string]string
						}
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != "revprober" {
			continue
		}
		found = true
		limit, err := parseBytes(c.Resources.Limits["memory"])
		if err != nil {
			t.Fatalf("limits.memory: %v", err)
		}
		var soft int64 = -1
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				if soft, err = parseBytes(e.Value); err != nil {
					t.Fatalf("GOMEMLIMIT: %v", err)
				}
			}
		}
		if soft < 0 {
			t.Fatal("the revprober container sets no GOMEMLIMIT although it has a memory limit")
		}
		if soft >= limit || soft < limit*3/4 {
			t.Errorf("GOMEMLIMIT is %d bytes for a memory limit of %d: want 75 %% to just under 100 %% of it", soft, limit)
		}
	}
	if !found {
		t.Fatal("no revprober container in the Deployment")
	}
}

// parseBytes reads a Kubernetes quantity (512Mi) or a GOMEMLIMIT value
// (460MiB): binary suffixes only, as the manifests use.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSuffix(s, "B")
	mult := int64(1)
	for i, suf := range []string{"Ki", "Mi", "Gi"} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), int64(1)<<(10*(i+1))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}
