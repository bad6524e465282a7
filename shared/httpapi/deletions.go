package httpapi

import (
	"bytes"
	"context"
	"strconv"

	"github.com/modelreg/modelreg/shared/registry"
)

// DeleteRequest is the optional body of DELETE /v1/models/{name} and
// DELETE /v1/models/{name}/versions/{version}: why (kept in the audit
// trail). An empty body deletes with no reason.
type DeleteRequest struct {
	Reason string `json:"reason,omitempty"`
}

// deleteReason reads the optional DeleteRequest body.
func (in *input) deleteReason() (string, error) {
	if len(bytes.TrimSpace(in.body)) == 0 {
		return "", nil
	}
	var req DeleteRequest
	if err := in.decode(&req); err != nil {
		return "", err
	}
	return req.Reason, nil
}

func (a *api) deleteModel(ctx context.Context, in *input) (any, error) {
	reason, err := in.deleteReason()
	if err != nil {
		return nil, err
	}
	return nil, a.svc.DeleteModel(ctx, in.name(), reason)
}

func (a *api) deleteVersion(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	reason, err := in.deleteReason()
	if err != nil {
		return nil, err
	}
	return a.svc.DeleteVersion(ctx, in.name(), n, reason)
}

// includeDeleted reads the include_deleted query parameter (true or
// false; absent is false).
func (in *input) includeDeleted() (bool, error) {
	s := in.query("include_deleted")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, registry.Errorf(registry.Invalid, "invalid include_deleted %q: use true or false", s)
	}
	return b, nil
}
