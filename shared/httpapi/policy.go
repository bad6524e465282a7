package httpapi

import "context"

func (a *api) getPolicy(ctx context.Context, in *input) (any, error) {
	return a.svc.GetPolicy(ctx, in.name())
}

func (a *api) setPolicy(ctx context.Context, in *input) (any, error) {
	var req PolicyRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	p, err := req.domain()
	if err != nil {
		return nil, err
	}
	return a.svc.SetPolicy(ctx, in.name(), p)
}
