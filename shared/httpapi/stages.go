package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// TransitionRequest is the body of POST …/versions/{version}/transitions.
type TransitionRequest struct {
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// TransitionAccepted is the 202 body of a transition that waits for an
// approval (to Production).
type TransitionAccepted struct {
	ApprovalID string                  `json:"approval_id"`
	Status     registry.ApprovalStatus `json:"status"`
}

func (TransitionAccepted) statusCode() int { return http.StatusAccepted }

func (a *api) transition(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	var req TransitionRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	if req.To == "" {
		return nil, registry.Errorf(registry.Invalid, "to is required: None, Staging, Production or Archived")
	}
	to, err := registry.ParseStage(req.To)
	if err != nil {
		return nil, err
	}
	return a.svc.Transition(ctx, in.name(), n, to, req.Reason)
}

func (a *api) stageVersion(ctx context.Context, in *input) (any, error) {
	stage, err := registry.ParseStage(in.r.PathValue("stage"))
	if err != nil {
		return nil, err
	}
	var at *time.Time
	if s := in.query("at"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, registry.Errorf(registry.Invalid, "invalid at %q: use an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		at = &t
	}
	return a.svc.StageVersion(ctx, in.name(), stage, at)
}

// replyETag answers v like reply, with a strong ETag of the encoded
// document, so a server following Production polls cheaply: a request
// whose If-None-Match names the current ETag (or is "*") gets 304 Not
// Modified with no body. Any change to the version in the stage (another
// version, its stage, metrics or tags) changes the document and so the
// ETag.
func (a *api) replyETag(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := encode(v)
	if err != nil {
		a.fail(w, r, registry.Wrap(registry.Internal, err, "encode response"))
		return
	}
	sum := sha256.Sum256(body)
	tag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", tag)
	w.Header().Set("Cache-Control", "no-cache")
	if status == http.StatusOK && etagMatches(r.Header.Get("If-None-Match"), tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, status, body)
}

// etagMatches reports whether an If-None-Match header names tag, by the
// weak comparison RFC 9110 prescribes for it (a W/ prefix is ignored).
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// AliasTarget is the body of GET …/aliases/{alias}: the alias and the
// version it points at.
type AliasTarget struct {
	Alias   Alias   `json:"alias"`
	Version Version `json:"version"`
}

// SetAliasRequest is the body of PUT …/aliases/{alias}.
type SetAliasRequest struct {
	Version int `json:"version"`
}

func (a *api) listAliases(ctx context.Context, in *input) (any, error) {
	items, err := a.svc.ListAliases(ctx, in.name())
	if err != nil {
		return nil, err
	}
	return registry.List[registry.Alias]{Items: items}, nil
}

func (a *api) getAlias(ctx context.Context, in *input) (any, error) {
	al, err := a.svc.GetAlias(ctx, in.name(), in.r.PathValue("alias"))
	if err != nil {
		return nil, err
	}
	v, err := a.svc.GetVersion(ctx, al.Model, al.Version)
	if err != nil {
		return nil, err
	}
	return AliasTarget{Alias: aliasOut(al), Version: versionOut(v)}, nil
}

func (a *api) setAlias(ctx context.Context, in *input) (any, error) {
	var req SetAliasRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	if req.Version < 1 {
		return nil, registry.Errorf(registry.Invalid, "version must be a positive integer")
	}
	return a.svc.SetAlias(ctx, in.name(), in.r.PathValue("alias"), req.Version)
}

func (a *api) deleteAlias(ctx context.Context, in *input) (any, error) {
	if err := in.decodeEmpty(); err != nil {
		return nil, err
	}
	return nil, a.svc.DeleteAlias(ctx, in.name(), in.r.PathValue("alias"))
}
