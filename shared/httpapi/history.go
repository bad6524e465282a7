package httpapi

import (
	"context"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

func (a *api) history(ctx context.Context, in *input) (any, error) {
	token, size, err := in.page()
	if err != nil {
		return nil, err
	}
	version := 0
	if s := in.query("version"); s != "" {
		if version, err = positiveInt(s); err != nil {
			return nil, registry.Errorf(registry.Invalid, "invalid version %q: versions are positive integers", s)
		}
	}
	return a.svc.History(ctx, in.name(), version, token, size)
}

func (a *api) compare(ctx context.Context, in *input) (any, error) {
	s := in.query("versions")
	if s == "" {
		return nil, registry.Errorf(registry.Invalid, "versions is required: give 2 to %d version numbers, e.g. versions=1,2", registry.MaxCompare)
	}
	parts := strings.Split(s, ",")
	if len(parts) > registry.MaxCompare {
		return nil, registry.Errorf(registry.Invalid, "compare takes 2 to %d versions, got %d", registry.MaxCompare, len(parts))
	}
	numbers := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := positiveInt(strings.TrimSpace(p))
		if err != nil {
			return nil, registry.Errorf(registry.Invalid, "invalid version %q in versions: versions are positive integers", p)
		}
		numbers = append(numbers, n)
	}
	return a.svc.Compare(ctx, in.name(), numbers, in.query("by"))
}

func (a *api) listApprovals(ctx context.Context, in *input) (any, error) {
	token, size, err := in.page()
	if err != nil {
		return nil, err
	}
	status := registry.ApprovalStatus(strings.ToUpper(in.query("status")))
	return a.svc.ListApprovals(ctx, status, in.query("model"), token, size)
}

func (a *api) getApproval(ctx context.Context, in *input) (any, error) {
	return a.svc.GetApproval(ctx, in.r.PathValue("id"))
}
