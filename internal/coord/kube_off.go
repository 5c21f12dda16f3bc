//go:build !kubernetes

package coord

import (
	"context"
	"errors"
	"log/slog"

	"github.com/revprober/revprober/internal/config"
)

func newKubernetes(context.Context, config.Coordination, string, *slog.Logger) (*Backend, error) {
	return nil, errors.New("coordination.backend kubernetes: this binary was built without it; build with -tags kubernetes (see docs/deployment.md)")
}
