package httpapi

import (
	"context"

	"github.com/modelreg/modelreg/shared/registry"
)

// RenameRequest is the body of POST /v1/models/{name}/rename.
type RenameRequest struct {
	NewName string `json:"new_name"`
	Reason  string `json:"reason,omitempty"`
}

func (a *api) renameModel(ctx context.Context, in *input) (any, error) {
	var req RenameRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	if req.NewName == "" {
		return nil, registry.Errorf(registry.Invalid, "new_name is required")
	}
	return a.svc.RenameModel(ctx, in.name(), req.NewName, req.Reason)
}
