//go:build kubernetes

package coord

import (
	"context"
	"log/slog"

	"github.com/revprober/revprober/internal/config"
	kubecoord "github.com/revprober/revprober/internal/coord/kube"
	"github.com/revprober/revprober/internal/metrics"
)

func newKubernetes(ctx context.Context, c config.Coordination, replica string, log *slog.Logger) (*Backend, error) {
	kc, err := kubecoord.New(kubecoord.Options{
		Namespace: c.Kubernetes.Namespace, LeaseName: c.Kubernetes.LeaseName, Replica: replica, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := kc.Start(ctx); err != nil {
		return nil, err
	}
	log.Info("coordination", "backend", "kubernetes", "lease", c.Kubernetes.LeaseName, "replica", replica)
	return &Backend{Name: metrics.BackendKubernetes, Coordinator: kc, Replica: replica, setState: kc.SetStateFunc, close: kc.Close}, nil
}
