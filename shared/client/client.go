// Package client is a Go client for the modelreg REST API (/v1). The CLI is
// built on it. Every write carries an Idempotency-Key and is retried with
// the same key on network errors and 5xx answers, so a retry never
// registers twice.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// Client talks to one registry.
type Client struct {
	// BaseURL is the registry's URL, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the bearer token sent with every API request, unless
	// SigV4 is set.
	Token string
	// SigV4, if set, signs every API request with AWS Signature Version 4
	// instead of sending Token (a registry behind API Gateway's IAM
	// authorizer). Presigned upload and download URLs are never signed.
	SigV4 *SigV4
	// HTTP sends the requests (default: a client with no overall timeout,
	// so long transfers are not cut; each API call has its own deadline).
	HTTP *http.Client
	// Retries is how many times a failed request is retried (default 4).
	Retries int
	// UserAgent identifies the caller.
	UserAgent string
}

// New returns a client for the registry at baseURL.
func New(baseURL, token string) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"), Token: token, Retries: 4, UserAgent: "modelreg-client",
		HTTP: &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16,
			IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: 5 * time.Minute,
		}},
	}
}

// APIError is an error answer of the registry.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// IsStatus reports whether err is an APIError with the given HTTP status.
func IsStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}

// retryable reports whether a request that failed this way may be sent
// again: a network failure (including one attempt running out of time) or
// an answer that asks for it. Whether the caller gave up is checked apart.
func retryable(err error, status int) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	return status == http.StatusTooManyRequests || status == http.StatusBadGateway ||
		status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout ||
		status == http.StatusInternalServerError
}

// backoff returns the wait before retry n (1-based): 200ms, 400ms, … ≤ 5s.
func backoff(n int) time.Duration {
	return min(200*time.Millisecond<<min(n-1, 5), 5*time.Second)
}

// do sends one API request. body (if not nil) is sent as JSON; out (if not
// nil) receives the JSON answer. Writes get an Idempotency-Key so retries
// are safe.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	idemKey := ""
	if method != http.MethodGet {
		idemKey = registry.RandomToken(16)
	}
	resigned := false
	for attempt := 0; ; attempt++ {
		status, resign, err := c.send(ctx, method, u, payload, idemKey, out)
		if err == nil {
			return nil
		}
		if resign && !resigned && ctx.Err() == nil {
			// The signature's time was refused and the signer has taken
			// the server's clock: sign again at once, as a new attempt
			// that does not count against Retries.
			resigned = true
			attempt--
			continue
		}
		if ctx.Err() != nil || attempt >= c.Retries || errors.Is(err, ErrCredentials) || !retryable(transportErr(err), status) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff(attempt + 1)):
		}
	}
}

// attemptTimeout bounds one API request. Completing an upload may hash a
// large file on the server; a retry with the same Idempotency-Key then
// gets the answer once it is there.
const attemptTimeout = 10 * time.Minute

// transportErr returns err if it is not an API answer (so it is a network
// failure), nil otherwise.
func transportErr(err error) error {
	var e *APIError
	if errors.As(err, &e) {
		return nil
	}
	return err
}

// send makes one attempt at an API request: a new request, signed afresh
// when SigV4 is set. resign reports a refusal for clock skew after which
// the signer took the server's time, so signing again may succeed.
func (c *Client) send(ctx context.Context, method, u string, payload []byte, idemKey string, out any) (status int, resign bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, false, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	req.Header.Set("User-Agent", c.UserAgent)
	if c.SigV4 != nil {
		if err := c.SigV4.Sign(ctx, req, payload); err != nil {
			return 0, false, err
		}
	} else if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		err := decodeError(resp)
		var ae *APIError
		if resp.StatusCode == http.StatusForbidden && c.SigV4 != nil && errors.As(err, &ae) {
			resign = c.SigV4.correctSkew(ae.Message, resp.Header.Get("Date"))
		}
		return resp.StatusCode, resign, err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, false, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, false, fmt.Errorf("decode answer of %s %s: %w", method, req.URL.Path, err)
	}
	return resp.StatusCode, false, nil
}

func decodeError(resp *http.Response) error {
	var body httpapi.ErrorBody
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(data, &body); err != nil || body.Error.Message == "" {
		// API Gateway answers its own refusals (a bad signature, a
		// throttled or unauthorized call) with {"message": "…"}.
		var gw struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &gw) == nil && gw.Message != "" {
			msg = gw.Message
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &APIError{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: msg}
	}
	return &APIError{Status: resp.StatusCode, Code: string(body.Error.Code), Message: body.Error.Message}
}

func esc(s string) string { return url.PathEscape(s) }

func versionPath(model string, version int) string {
	return "/v1/models/" + esc(model) + "/versions/" + strconv.Itoa(version)
}

// Health returns the server's health document.
func (c *Client) Health(ctx context.Context) (httpapi.Health, error) {
	var out httpapi.Health
	return out, c.do(ctx, http.MethodGet, "/v1/health", nil, nil, &out)
}

// Whoami returns the caller's name and role.
func (c *Client) Whoami(ctx context.Context) (registry.Principal, error) {
	var out httpapi.WhoAmI
	err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &out)
	return registry.Principal{Name: out.Name, Role: out.Role}, err
}

// CreateModel creates a model.
func (c *Client) CreateModel(ctx context.Context, m httpapi.NewModel) (httpapi.Model, error) {
	var out httpapi.Model
	return out, c.do(ctx, http.MethodPost, "/v1/models", nil, m, &out)
}

// GetModel returns a model.
func (c *Client) GetModel(ctx context.Context, name string) (httpapi.Model, error) {
	var out httpapi.Model
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(name), nil, nil, &out)
}

// ListModels returns one page of models.
func (c *Client) ListModels(ctx context.Context, prefix, pageToken string, pageSize int) (httpapi.List[httpapi.Model], error) {
	q := url.Values{}
	setIf(q, "prefix", prefix)
	setPage(q, pageToken, pageSize)
	var out httpapi.List[httpapi.Model]
	return out, c.do(ctx, http.MethodGet, "/v1/models", q, nil, &out)
}

// UpdateModel changes a model.
func (c *Client) UpdateModel(ctx context.Context, name string, p httpapi.ModelPatch) (httpapi.Model, error) {
	var out httpapi.Model
	return out, c.do(ctx, http.MethodPatch, "/v1/models/"+esc(name), nil, p, &out)
}

// DeleteModel deletes a model with all its versions (admin; refused while a
// version is in Production or has a PENDING approval). The versions become
// tombstones and their files are removed; the audit trail stays. Calling
// it again finishes an interrupted deletion.
func (c *Client) DeleteModel(ctx context.Context, name, reason string) error {
	return c.do(ctx, http.MethodDelete, "/v1/models/"+esc(name), nil, httpapi.DeleteRequest{Reason: reason}, nil)
}

// RenameModel renames a model (admin) and returns it under its new name:
// versions, aliases, deploy targets, deployments, policy, tags and its
// history move with it; files stay where they are. Calling it again
// finishes an interrupted rename.
func (c *Client) RenameModel(ctx context.Context, name, newName, reason string) (httpapi.Model, error) {
	var out httpapi.Model
	return out, c.do(ctx, http.MethodPost, "/v1/models/"+esc(name)+"/rename", nil, httpapi.RenameRequest{NewName: newName, Reason: reason}, &out)
}

// DeleteVersion deletes a version (admin; refused while it is in
// Production or has a PENDING approval) and returns its tombstone.
// Deleting a tombstone again removes any files a crash left behind.
func (c *Client) DeleteVersion(ctx context.Context, model string, version int, reason string) (httpapi.Version, error) {
	var out httpapi.Version
	return out, c.do(ctx, http.MethodDelete, versionPath(model, version), nil, httpapi.DeleteRequest{Reason: reason}, &out)
}

// RegisterVersion registers the next version of a model.
func (c *Client) RegisterVersion(ctx context.Context, model string, v httpapi.RegisterRequest) (httpapi.Version, error) {
	var out httpapi.Version
	return out, c.do(ctx, http.MethodPost, "/v1/models/"+esc(model)+"/versions", nil, v, &out)
}

// GetVersion returns a version.
func (c *Client) GetVersion(ctx context.Context, model string, version int) (httpapi.Version, error) {
	var out httpapi.Version
	return out, c.do(ctx, http.MethodGet, versionPath(model, version), nil, nil, &out)
}

// VersionFilter selects versions; empty fields do not filter.
type VersionFilter struct {
	Stage, Status, Tag, GitCommit, Dataset, RunID string
	// IncludeDeleted lists deleted versions (tombstones) too.
	IncludeDeleted bool
}

// ListVersions returns one page of a model's versions, newest first.
func (c *Client) ListVersions(ctx context.Context, model string, f VersionFilter, pageToken string, pageSize int) (httpapi.List[httpapi.Version], error) {
	q := url.Values{}
	setIf(q, "stage", f.Stage)
	setIf(q, "status", f.Status)
	setIf(q, "tag", f.Tag)
	setIf(q, "git_commit", f.GitCommit)
	setIf(q, "dataset", f.Dataset)
	setIf(q, "run_id", f.RunID)
	if f.IncludeDeleted {
		q.Set("include_deleted", "true")
	}
	setPage(q, pageToken, pageSize)
	var out httpapi.List[httpapi.Version]
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/versions", q, nil, &out)
}

// UpdateVersion changes a version's description or tags.
func (c *Client) UpdateVersion(ctx context.Context, model string, version int, p httpapi.VersionPatch) (httpapi.Version, error) {
	var out httpapi.Version
	return out, c.do(ctx, http.MethodPatch, versionPath(model, version), nil, p, &out)
}

// CreateUpload opens an upload session for a version's files.
func (c *Client) CreateUpload(ctx context.Context, model string, version int, files []httpapi.FileSpec) (httpapi.UploadTicket, error) {
	var out httpapi.UploadTicket
	body := httpapi.UploadRequest{Files: files}
	return out, c.do(ctx, http.MethodPost, versionPath(model, version)+"/uploads", nil, body, &out)
}

// RefreshUpload returns fresh URLs for the parts not yet uploaded.
func (c *Client) RefreshUpload(ctx context.Context, model string, version int, uploadID string) (httpapi.UploadTicket, error) {
	var out httpapi.UploadTicket
	return out, c.do(ctx, http.MethodPost, versionPath(model, version)+"/uploads/"+esc(uploadID)+"/refresh", nil, struct{}{}, &out)
}

// CompleteUpload verifies the uploaded files and makes the version READY.
func (c *Client) CompleteUpload(ctx context.Context, model string, version int, uploadID string) (httpapi.Version, error) {
	var out httpapi.Version
	return out, c.do(ctx, http.MethodPost, versionPath(model, version)+"/uploads/"+esc(uploadID)+"/complete", nil, struct{}{}, &out)
}

// Downloads returns download links for a READY version's files.
func (c *Client) Downloads(ctx context.Context, model string, version int, path string) (httpapi.DownloadSet, error) {
	q := url.Values{}
	setIf(q, "path", path)
	var out httpapi.DownloadSet
	return out, c.do(ctx, http.MethodGet, versionPath(model, version)+"/download", q, nil, &out)
}

// TransitionResult is the answer to a transition: the moved version, or
// the approval a Production request waits for.
type TransitionResult struct {
	Version    *httpapi.Version
	ApprovalID string
	Status     string
}

// Transition moves a version to another stage.
func (c *Client) Transition(ctx context.Context, model string, version int, to, reason string) (TransitionResult, error) {
	var raw json.RawMessage
	body := httpapi.TransitionRequest{To: to, Reason: reason}
	if err := c.do(ctx, http.MethodPost, versionPath(model, version)+"/transitions", nil, body, &raw); err != nil {
		return TransitionResult{}, err
	}
	var pending httpapi.TransitionAccepted
	if err := json.Unmarshal(raw, &pending); err == nil && pending.ApprovalID != "" {
		return TransitionResult{ApprovalID: pending.ApprovalID, Status: string(pending.Status)}, nil
	}
	var v httpapi.Version
	if err := json.Unmarshal(raw, &v); err != nil {
		return TransitionResult{}, fmt.Errorf("decode transition answer: %w", err)
	}
	return TransitionResult{Version: &v}, nil
}

// PushMetrics records metrics measured after deployment.
func (c *Client) PushMetrics(ctx context.Context, model string, version int, metrics map[string]float64, source string) (httpapi.Version, error) {
	body := httpapi.PushMetricsRequest{Metrics: metrics, Source: registry.MetricSource(source)}
	var out httpapi.Version
	return out, c.do(ctx, http.MethodPost, versionPath(model, version)+"/metrics", nil, body, &out)
}

// StageVersion returns the version in a stage, or the one that was in
// Production at a given time.
func (c *Client) StageVersion(ctx context.Context, model, stage string, at *time.Time) (httpapi.Version, error) {
	q := url.Values{}
	if at != nil {
		q.Set("at", at.UTC().Format(time.RFC3339Nano))
	}
	var out httpapi.Version
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/stages/"+esc(stage), q, nil, &out)
}

// SetAlias points an alias at a version.
func (c *Client) SetAlias(ctx context.Context, model, alias string, version int) (httpapi.Alias, error) {
	var out httpapi.Alias
	return out, c.do(ctx, http.MethodPut, "/v1/models/"+esc(model)+"/aliases/"+esc(alias), nil, httpapi.SetAliasRequest{Version: version}, &out)
}

// GetAlias returns an alias and its version.
func (c *Client) GetAlias(ctx context.Context, model, alias string) (httpapi.AliasTarget, error) {
	var out httpapi.AliasTarget
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/aliases/"+esc(alias), nil, nil, &out)
}

// DeleteAlias removes an alias.
func (c *Client) DeleteAlias(ctx context.Context, model, alias string) error {
	return c.do(ctx, http.MethodDelete, "/v1/models/"+esc(model)+"/aliases/"+esc(alias), nil, nil, nil)
}

// ListAliases returns a model's aliases.
func (c *Client) ListAliases(ctx context.Context, model string) ([]httpapi.Alias, error) {
	var out httpapi.List[httpapi.Alias]
	return out.Items, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/aliases", nil, nil, &out)
}

// History returns one page of a model's audit trail (of one version when
// version > 0), newest first.
func (c *Client) History(ctx context.Context, model string, version int, pageToken string, pageSize int) (httpapi.List[httpapi.AuditEntry], error) {
	q := url.Values{}
	if version > 0 {
		q.Set("version", strconv.Itoa(version))
	}
	setPage(q, pageToken, pageSize)
	var out httpapi.List[httpapi.AuditEntry]
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/history", q, nil, &out)
}

// Compare sets versions side by side; by ranks them on a metric.
func (c *Client) Compare(ctx context.Context, model string, versions []int, by string) (httpapi.Comparison, error) {
	nums := make([]string, len(versions))
	for i, v := range versions {
		nums[i] = strconv.Itoa(v)
	}
	q := url.Values{"versions": {strings.Join(nums, ",")}}
	setIf(q, "by", by)
	var out httpapi.Comparison
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/compare", q, nil, &out)
}

// GetPolicy returns a model's promotion policy, defaults filled in.
func (c *Client) GetPolicy(ctx context.Context, model string) (httpapi.Policy, error) {
	var out httpapi.Policy
	return out, c.do(ctx, http.MethodGet, "/v1/models/"+esc(model)+"/policy", nil, nil, &out)
}

// SetPolicy replaces a model's promotion policy (admin); absent fields of
// p take their defaults. It returns the policy now in force.
func (c *Client) SetPolicy(ctx context.Context, model string, p httpapi.PolicyRequest) (httpapi.Policy, error) {
	var out httpapi.Policy
	return out, c.do(ctx, http.MethodPut, "/v1/models/"+esc(model)+"/policy", nil, p, &out)
}

// ListApprovals returns one page of approvals.
func (c *Client) ListApprovals(ctx context.Context, status, model, pageToken string, pageSize int) (httpapi.List[httpapi.Approval], error) {
	q := url.Values{}
	setIf(q, "status", status)
	setIf(q, "model", model)
	setPage(q, pageToken, pageSize)
	var out httpapi.List[httpapi.Approval]
	return out, c.do(ctx, http.MethodGet, "/v1/approvals", q, nil, &out)
}

// GetApproval returns an approval.
func (c *Client) GetApproval(ctx context.Context, id string) (httpapi.Approval, error) {
	var out httpapi.Approval
	return out, c.do(ctx, http.MethodGet, "/v1/approvals/"+esc(id), nil, nil, &out)
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setPage(q url.Values, token string, size int) {
	setIf(q, "page_token", token)
	if size > 0 {
		q.Set("page_size", strconv.Itoa(size))
	}
}

// DecideApproval approves (approve true) or rejects approval id with a
// comment and returns the approval after the decision.
func (c *Client) DecideApproval(ctx context.Context, id string, approve bool, comment string) (httpapi.Approval, error) {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	var out httpapi.Approval
	return out, c.do(ctx, http.MethodPost, "/v1/approvals/"+esc(id)+"/"+verb, nil, httpapi.DecisionRequest{Comment: comment}, &out)
}

// CancelApproval cancels approval id (the requester or an admin).
func (c *Client) CancelApproval(ctx context.Context, id, comment string) (httpapi.Approval, error) {
	var out httpapi.Approval
	return out, c.do(ctx, http.MethodPost, "/v1/approvals/"+esc(id)+"/cancel", nil, httpapi.DecisionRequest{Comment: comment}, &out)
}

// Rollback returns Production of model to version to (0: the previous
// Production version) and returns the version now in Production.
func (c *Client) Rollback(ctx context.Context, model string, to int, reason string) (httpapi.Version, error) {
	var out httpapi.Version
	return out, c.do(ctx, http.MethodPost, "/v1/models/"+esc(model)+"/rollback", nil, httpapi.RollbackRequest{To: to, Reason: reason}, &out)
}

// VerifyPollInterval is how often WaitVerified looks at a VERIFYING
// version.
const VerifyPollInterval = time.Second

// ErrVerifyFailed is the cause of the error WaitVerified returns when the
// version ended FAILED.
var ErrVerifyFailed = errors.New("verification failed")

// WaitVerified polls a version that CompleteUpload left VERIFYING (its
// files are verified in the background on the server) every interval
// (VerifyPollInterval if 0) until it is READY or FAILED, calling waiting,
// if set, after each poll that found it still VERIFYING. It returns the
// READY version, or an error wrapping ErrVerifyFailed with the server's
// reason.
func (c *Client) WaitVerified(ctx context.Context, v httpapi.Version, interval time.Duration, waiting func(elapsed time.Duration)) (httpapi.Version, error) {
	if interval <= 0 {
		interval = VerifyPollInterval
	}
	start := time.Now()
	for v.Status == registry.StatusVerifying {
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(interval):
		}
		got, err := c.GetVersion(ctx, v.Model, v.Number)
		if err != nil {
			return v, err
		}
		v = got
		if v.Status == registry.StatusVerifying && waiting != nil {
			waiting(time.Since(start))
		}
	}
	if v.Status == registry.StatusFailed {
		return v, fmt.Errorf("%s version %d: %w: %s", v.Model, v.Number, ErrVerifyFailed, v.StatusReason)
	}
	return v, nil
}
