package httpapi

import (
	"context"

	"github.com/modelreg/modelreg/shared/registry"
)

// Health is the body of GET /v1/health.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// WhoAmI is the body of GET /v1/whoami: the caller as the API sees it.
type WhoAmI struct {
	Name string        `json:"name"`
	Role registry.Role `json:"role"`
}

func (a *api) health(_ context.Context, _ *input) (any, error) {
	return Health{Status: "ok", Version: a.version}, nil
}

func (a *api) whoami(ctx context.Context, _ *input) (any, error) {
	p := registry.PrincipalFrom(ctx)
	return WhoAmI{Name: p.Name, Role: p.Role}, nil
}

func (a *api) createModel(ctx context.Context, in *input) (any, error) {
	var req NewModel
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.CreateModel(ctx, req.domain())
}

func (a *api) listModels(ctx context.Context, in *input) (any, error) {
	token, size, err := in.page()
	if err != nil {
		return nil, err
	}
	return a.svc.ListModels(ctx, in.query("prefix"), token, size)
}

func (a *api) getModel(ctx context.Context, in *input) (any, error) {
	return a.svc.GetModel(ctx, in.name())
}

func (a *api) updateModel(ctx context.Context, in *input) (any, error) {
	var patch ModelPatch
	if err := in.decode(&patch); err != nil {
		return nil, err
	}
	return a.svc.UpdateModel(ctx, in.name(), patch.domain())
}
