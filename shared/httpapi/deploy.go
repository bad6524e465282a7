package httpapi

import (
	"context"
	"fmt"

	"github.com/modelreg/modelreg/shared/registry"
)

func (a *api) listDeployTargets(ctx context.Context, in *input) (any, error) {
	items, err := a.svc.ListDeployTargets(ctx, in.name())
	if err != nil {
		return nil, err
	}
	return registry.List[registry.DeployTarget]{Items: items}, nil
}

func (a *api) addDeployTarget(ctx context.Context, in *input) (any, error) {
	var req DeployTargetRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.AddDeployTarget(ctx, in.name(), req.domain())
}

func (a *api) removeDeployTarget(ctx context.Context, in *input) (any, error) {
	if err := in.decodeEmpty(); err != nil {
		return nil, err
	}
	return nil, a.svc.RemoveDeployTarget(ctx, in.name(), in.r.PathValue("id"))
}

func (a *api) rotateTargetSecret(ctx context.Context, in *input) (any, error) {
	var req RotateSecretRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.RotateTargetSecret(ctx, in.name(), in.r.PathValue("id"), []byte(req.Secret))
}

func (a *api) listDeployments(ctx context.Context, in *input) (any, error) {
	token, size, err := in.page()
	if err != nil {
		return nil, err
	}
	return a.svc.ListDeployments(ctx, in.name(), token, size)
}

func (a *api) getDeployment(ctx context.Context, in *input) (any, error) {
	return a.svc.GetDeployment(ctx, in.name(), in.r.PathValue("id"))
}

func (a *api) redeliverDeployment(ctx context.Context, in *input) (any, error) {
	if err := in.decodeEmpty(); err != nil {
		return nil, err
	}
	id, err := a.svc.RedeliverDeployment(ctx, in.name(), in.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return RedeliveryAccepted{EventID: id}, nil
}

// redeliveryBody is the body of the redeliver route. The service's update
// result, which an Idempotency-Key stores, is the requested event's id:
// it is answered as RedeliveryAccepted, like the fresh answer.
func redeliveryBody(result any) (any, error) {
	switch v := result.(type) {
	case string:
		return RedeliveryAccepted{EventID: v}, nil
	case RedeliveryAccepted:
		return v, nil
	}
	return nil, fmt.Errorf("httpapi: redelivery result is a %T, not an event id", result)
}
