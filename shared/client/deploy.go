package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/modelreg/modelreg/shared/httpapi"
)

// ListDeployTargets returns a model's deploy targets, oldest first (webhook
// secrets as fingerprints only).
func (c *Client) ListDeployTargets(ctx context.Context, model string) ([]httpapi.DeployTarget, error) {
	var out httpapi.List[httpapi.DeployTarget]
	return out.Items, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/deploy-targets", nil, nil, &out)
}

// AddDeployTarget adds a webhook or SageMaker deploy target (admin).
func (c *Client) AddDeployTarget(ctx context.Context, model string, t httpapi.DeployTargetRequest) (httpapi.DeployTarget, error) {
	var out httpapi.DeployTarget
	return out, c.do(ctx, http.MethodPost, "/v1/models/"+esc(model)+"/deploy-targets", nil, t, &out)
}

// RemoveDeployTarget removes a deploy target (admin).
func (c *Client) RemoveDeployTarget(ctx context.Context, model, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/models/"+esc(model)+"/deploy-targets/"+esc(id), nil, nil, nil)
}

// RotateTargetSecret replaces a webhook target's signing secret (admin) and
// returns the target with its new fingerprint.
func (c *Client) RotateTargetSecret(ctx context.Context, model, id, secret string) (httpapi.DeployTarget, error) {
	var out httpapi.DeployTarget
	return out, c.do(ctx, http.MethodPost, "/v1/models/"+esc(model)+"/deploy-targets/"+esc(id)+"/rotate-secret", nil,
		httpapi.RotateSecretRequest{Secret: secret}, &out)
}

// ListDeployments returns one page of a model's deployments, newest first.
func (c *Client) ListDeployments(ctx context.Context, model, pageToken string, pageSize int) (httpapi.List[httpapi.Deployment], error) {
	q := url.Values{}
	setPage(q, pageToken, pageSize)
	var out httpapi.List[httpapi.Deployment]
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/deployments", q, nil, &out)
}

// GetDeployment returns one deployment.
func (c *Client) GetDeployment(ctx context.Context, model, id string) (httpapi.Deployment, error) {
	var out httpapi.Deployment
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/deployments/"+esc(id), nil, nil, &out)
}

// RedeliverDeployment asks for deployment id to be delivered again and
// returns the id of the event that requests it.
func (c *Client) RedeliverDeployment(ctx context.Context, model, id string) (string, error) {
	var out httpapi.RedeliveryAccepted
	return out.EventID, c.do(ctx, http.MethodPost, "/v1/models/"+esc(model)+"/deployments/"+esc(id)+"/redeliver", nil, nil, &out)
}
