package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/modelreg/modelreg/shared/internal/lazyre"
)

// Deploy targets: where a model's Production version goes whenever it
// changes. Admins add, remove and rotate them (the API checks the role);
// readers list them, and see a webhook's secret only as its fingerprint.
// Every change is audited (deploy_target.*) and commits with the model at
// its next revision, so it serializes with the model's deletion and the
// count limit holds under concurrent adds.

// Deploy-target audit actions.
const (
	ActionDeployTargetAdded   Action = "deploy_target.added"
	ActionDeployTargetRemoved Action = "deploy_target.removed"
	ActionDeployTargetRotated Action = "deploy_target.secret_rotated"
)

// Limits of deploy targets.
const (
	MaxWebhookURLLen    = 2048
	MinWebhookSecret    = 16 // bytes: a shorter HMAC key is guessable
	MaxWebhookSecret    = 4096
	MaxImageURILen      = 1024
	DefaultInstanceType = "ml.m5.large"
)

var (
	// endpointNameRE is SageMaker's rule for endpoint names.
	endpointNameRE = lazyre.New(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`) // and at most 63 characters
	// roleARNRE is an IAM role ARN (any partition).
	roleARNRE = lazyre.New(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_/-]+)$`) // path and name: at most 512
	// instanceTypeRE is a SageMaker instance type: ml.<family>.<size>.
	instanceTypeRE = lazyre.New(`^ml\.[a-z0-9-]+\.[a-z0-9]+$`)
	// imageURIRE is a container image reference: registry/repository and
	// an optional :tag or @sha256:digest, no spaces.
	imageURIRE = lazyre.New(`^[A-Za-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})?$`)
)

// DeployTargetSpec is what an admin gives to add a deploy target.
type DeployTargetSpec struct {
	Kind DeployTargetKind
	// Webhook targets.
	URL    string
	Secret []byte // the signing secret; sealed, never stored plain
	// SageMaker targets.
	Endpoint     string
	ImageURI     string
	RoleARN      string
	InstanceType string // default DefaultInstanceType
	ArtifactPath string // the version's file to serve; "" for its only file
}

// AddDeployTarget adds a deploy target to a model (admin). A webhook
// target needs the server's SecretBox (NotImplemented without one) and a URL
// that Config.CheckWebhookURL accepts; a SageMaker target an endpoint
// inside Config.SageMakerPrefix and a role among Config.AllowedRoleARNs
// when those are set. A model has at most MaxDeployTargets, and no two of
// them with the same URL or endpoint. Invalid, NotFound, Conflict,
// NotImplemented, Unavailable (the box's backend is down).
func (s *Service) AddDeployTarget(ctx context.Context, model string, spec DeployTargetSpec) (DeployTarget, error) {
	t, err := s.checkTargetSpec(ctx, spec)
	if err != nil {
		return DeployTarget{}, err
	}
	t.ID = "dt-" + strings.ToLower(NewID(s.Now()))
	if t.Kind == TargetWebhook {
		if t.SealedSecret, err = s.seal(WithSealContext(ctx, model, t.ID), spec.Secret); err != nil {
			return DeployTarget{}, err
		}
		t.SecretFingerprint = SecretFingerprint(spec.Secret)
	}
	return update(ctx, s, func() (*Change, DeployTarget, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, DeployTarget{}, err
		}
		all, err := s.cfg.Store.ListDeployTargets(ctx, model)
		if err != nil {
			return nil, DeployTarget{}, err
		}
		if len(all) >= MaxDeployTargets {
			return nil, DeployTarget{}, Errorf(Conflict, "model %s has %d deploy targets, the most it may have: remove one first", model, MaxDeployTargets)
		}
		for _, o := range all {
			switch {
			case t.Kind == TargetWebhook && o.Kind == TargetWebhook && o.URL == t.URL:
				return nil, DeployTarget{}, Errorf(Conflict, "model %s already has webhook target %s for %s", model, o.ID, t.URL)
			case t.Kind == TargetSageMaker && o.Kind == TargetSageMaker && o.Endpoint == t.Endpoint:
				return nil, DeployTarget{}, Errorf(Conflict, "model %s already has SageMaker target %s for endpoint %s", model, o.ID, t.Endpoint)
			}
		}
		now := s.Now()
		nt := t
		nt.Model, nt.CreatedBy, nt.CreatedAt, nt.UpdatedAt, nt.Revision = model, PrincipalFrom(ctx).Name, now, now, 1
		a := s.audit(ctx, now, model, 0, ActionDeployTargetAdded)
		a.Details = targetDetails(nt)
		m.UpdatedAt = now
		m.Revision++
		return &Change{Models: []Model{m}, DeployTargets: []DeployTarget{nt}, Audit: []AuditEntry{a}}, nt, nil
	})
}

// RemoveDeployTarget removes a deploy target (admin). NotFound.
func (s *Service) RemoveDeployTarget(ctx context.Context, model, id string) error {
	_, err := update(ctx, s, func() (*Change, any, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, nil, err
		}
		t, err := s.DeployTarget(ctx, model, id)
		if err != nil {
			return nil, nil, err
		}
		now := s.Now()
		a := s.audit(ctx, now, model, 0, ActionDeployTargetRemoved)
		a.Details = targetDetails(t)
		m.UpdatedAt = now
		m.Revision++
		return &Change{Models: []Model{m}, DeletedDeployTargets: []DeployTarget{t}, Audit: []AuditEntry{a}}, nil, nil
	})
	return err
}

// RotateTargetSecret replaces the signing secret of a webhook target
// (admin) and returns the target with its new fingerprint. The URL is
// checked again (Config.CheckWebhookURL). Invalid (not a webhook target, a
// bad secret, a URL now refused), NotFound, NotImplemented (no
// SecretBox), Unavailable (its backend is down).
func (s *Service) RotateTargetSecret(ctx context.Context, model, id string, secret []byte) (DeployTarget, error) {
	if err := checkSecret(secret); err != nil {
		return DeployTarget{}, err
	}
	t, err := s.DeployTarget(ctx, model, id)
	if err != nil {
		return DeployTarget{}, err
	}
	if t.Kind != TargetWebhook {
		return DeployTarget{}, Errorf(Invalid, "deploy target %s is a %s target: only webhook targets have a secret", id, t.Kind)
	}
	if err := s.checkWebhookURL(ctx, t.URL); err != nil {
		return DeployTarget{}, err
	}
	sealed, err := s.seal(WithSealContext(ctx, model, id), secret)
	if err != nil {
		return DeployTarget{}, err
	}
	fp := SecretFingerprint(secret)
	return update(ctx, s, func() (*Change, DeployTarget, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, DeployTarget{}, err
		}
		t, err := s.DeployTarget(ctx, model, id)
		if err != nil {
			return nil, DeployTarget{}, err
		}
		now := s.Now()
		a := s.audit(ctx, now, model, 0, ActionDeployTargetRotated)
		a.Details = targetDetails(t)
		a.Details["old_fingerprint"], a.Details["fingerprint"] = t.SecretFingerprint, fp
		t.SealedSecret, t.SecretFingerprint, t.UpdatedAt = sealed, fp, now
		t.Revision++
		m.UpdatedAt = now
		m.Revision++
		return &Change{Models: []Model{m}, DeployTargets: []DeployTarget{t}, Audit: []AuditEntry{a}}, t, nil
	})
}

// ListDeployTargets returns the deploy targets of a model, oldest first.
// NotFound for an unknown model.
func (s *Service) ListDeployTargets(ctx context.Context, model string) ([]DeployTarget, error) {
	if _, err := s.GetModel(ctx, model); err != nil {
		return nil, err
	}
	return s.DeployTargetsOf(ctx, model)
}

// DeployTargetsOf returns every deploy target of model (empty if none, or
// if there is no such model). For consumers: no role is checked.
func (s *Service) DeployTargetsOf(ctx context.Context, model string) ([]DeployTarget, error) {
	all, err := s.cfg.Store.ListDeployTargets(ctx, model)
	return nonNil(all), err
}

// DeployTarget returns the deploy target id of model. NotFound.
func (s *Service) DeployTarget(ctx context.Context, model, id string) (DeployTarget, error) {
	t, err := s.cfg.Store.GetDeployTarget(ctx, model, id)
	if IsCode(err, NotFound) {
		return DeployTarget{}, Errorf(NotFound, "model %s has no deploy target %q", model, id)
	}
	return t, err
}

// OpenTargetSecret returns the plain signing secret of webhook target t
// (through Config.Secrets). Invalid (no secret, or not sealed by this
// box), NotImplemented (no SecretBox), Unavailable (the box's backend is
// down).
func (s *Service) OpenTargetSecret(ctx context.Context, t DeployTarget) ([]byte, error) {
	if s.cfg.Secrets == nil {
		return nil, Errorf(NotImplemented, "this server has no secret box configured: webhook secrets cannot be opened")
	}
	if t.SealedSecret == "" {
		return nil, Errorf(Invalid, "deploy target %s has no secret", t.ID)
	}
	b, err := s.cfg.Secrets.Open(WithSealContext(ctx, t.Model, t.ID), t.SealedSecret)
	if err != nil {
		return nil, fmt.Errorf("open the secret of deploy target %s: %w", t.ID, err)
	}
	return b, nil
}

// seal seals a webhook secret. NotImplemented without a SecretBox.
func (s *Service) seal(ctx context.Context, secret []byte) (string, error) {
	if s.cfg.Secrets == nil {
		return "", Errorf(NotImplemented, "this server has no secret box configured (a data directory, or --kms-key-id): webhook targets cannot be added or rotated")
	}
	sealed, err := s.cfg.Secrets.Seal(ctx, secret)
	if err != nil {
		return "", fmt.Errorf("seal webhook secret: %w", err)
	}
	return sealed, nil
}

// checkTargetSpec validates spec and returns the target it describes
// (without ID, model, secret or times).
func (s *Service) checkTargetSpec(ctx context.Context, spec DeployTargetSpec) (DeployTarget, error) {
	switch spec.Kind {
	case TargetWebhook:
		if spec.Endpoint != "" || spec.ImageURI != "" || spec.RoleARN != "" || spec.InstanceType != "" || spec.ArtifactPath != "" {
			return DeployTarget{}, Errorf(Invalid, "a webhook target takes url and secret only (endpoint, image_uri, role_arn, instance_type and artifact_path are for sagemaker targets)")
		}
		if err := checkSecret(spec.Secret); err != nil {
			return DeployTarget{}, err
		}
		if err := checkWebhookURLShape(spec.URL); err != nil {
			return DeployTarget{}, err
		}
		if err := s.checkWebhookURL(ctx, spec.URL); err != nil {
			return DeployTarget{}, err
		}
		return DeployTarget{Kind: TargetWebhook, URL: spec.URL}, nil
	case TargetSageMaker:
		if spec.URL != "" || spec.Secret != nil {
			return DeployTarget{}, Errorf(Invalid, "a sagemaker target takes no url or secret")
		}
		t := DeployTarget{Kind: TargetSageMaker, Endpoint: spec.Endpoint, ImageURI: spec.ImageURI, RoleARN: spec.RoleARN,
			InstanceType: spec.InstanceType, ArtifactPath: spec.ArtifactPath}
		if t.InstanceType == "" {
			t.InstanceType = DefaultInstanceType
		}
		if err := s.checkSageMaker(t); err != nil {
			return DeployTarget{}, err
		}
		return t, nil
	case "":
		return DeployTarget{}, Errorf(Invalid, "kind is required: webhook or sagemaker")
	default:
		return DeployTarget{}, Errorf(Invalid, "unknown deploy target kind %q: use webhook or sagemaker", spec.Kind)
	}
}

// checkSecret checks a webhook signing secret. Invalid.
func checkSecret(secret []byte) error {
	switch {
	case len(secret) == 0:
		return Errorf(Invalid, "secret is required: the webhook's signing secret")
	case len(secret) < MinWebhookSecret:
		return Errorf(Invalid, "secret is %d bytes; use at least %d (e.g. openssl rand -hex 32)", len(secret), MinWebhookSecret)
	case len(secret) > MaxWebhookSecret:
		return Errorf(Invalid, "secret is %d bytes; at most %d", len(secret), MaxWebhookSecret)
	}
	return nil
}

// checkWebhookURLShape checks that u is an absolute http(s) URL with a
// host and no credentials (the URL is shown to readers). Invalid.
func checkWebhookURLShape(raw string) error {
	if raw == "" {
		return Errorf(Invalid, "url is required for a webhook target")
	}
	if err := ValidateLine("url", raw, MaxWebhookURLLen); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return Errorf(Invalid, "url %q is not a URL: %v", raw, errors.Unwrap(err))
	case u.Scheme != "https" && u.Scheme != "http":
		return Errorf(Invalid, "url %q: a webhook URL is https:// (or http://)", raw)
	case u.Host == "" || u.Hostname() == "":
		return Errorf(Invalid, "url %q has no host", raw)
	case u.User != nil:
		return Errorf(Invalid, "url %q carries credentials: the URL is shown to readers; sign with the secret instead", raw)
	case u.Fragment != "":
		return Errorf(Invalid, "url %q has a #fragment, which is never sent", raw)
	}
	return nil
}

// checkWebhookURL applies the server's SSRF rule. Invalid with its message.
func (s *Service) checkWebhookURL(ctx context.Context, raw string) error {
	if s.cfg.CheckWebhookURL == nil {
		return nil
	}
	if err := s.cfg.CheckWebhookURL(ctx, raw); err != nil {
		if IsCode(err, Unavailable) {
			return err
		}
		var e *Error
		if errors.As(err, &e) {
			return Wrap(Invalid, err, "%s", e.Message)
		}
		return Wrap(Invalid, err, "url %s is refused: %v", raw, err)
	}
	return nil
}

// checkSageMaker checks a SageMaker target's fields and the server's
// limits on endpoints and roles. Invalid.
func (s *Service) checkSageMaker(t DeployTarget) error {
	switch {
	case t.Endpoint == "":
		return Errorf(Invalid, "endpoint is required for a sagemaker target")
	case len(t.Endpoint) > 63 || !endpointNameRE.MatchString(t.Endpoint):
		return Errorf(Invalid, "endpoint %q is not a SageMaker endpoint name: letters, digits and inner hyphens, at most 63 characters", t.Endpoint)
	case t.ImageURI == "":
		return Errorf(Invalid, "image_uri is required for a sagemaker target (the inference image)")
	case len(t.ImageURI) > MaxImageURILen || !imageURIRE.MatchString(t.ImageURI):
		return Errorf(Invalid, "image_uri %q is not an image reference such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag", t.ImageURI)
	case t.RoleARN == "":
		return Errorf(Invalid, "role_arn is required for a sagemaker target (the execution role SageMaker assumes)")
	case !validRoleARN(t.RoleARN):
		return Errorf(Invalid, "role_arn %q is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)", t.RoleARN)
	case !instanceTypeRE.MatchString(t.InstanceType):
		return Errorf(Invalid, "instance_type %q is not a SageMaker instance type such as ml.m5.large", t.InstanceType)
	}
	if t.ArtifactPath != "" {
		if err := ValidatePath(t.ArtifactPath); err != nil {
			return Wrap(Invalid, err, "artifact_path: %s", ErrorMessage(err))
		}
	}
	if p := s.cfg.SageMakerPrefix; p != "" && !strings.HasPrefix(t.Endpoint, p) {
		return Errorf(Invalid, "endpoint %q is outside this registry's endpoints: names must start with %q", t.Endpoint, p)
	}
	if len(s.cfg.AllowedRoleARNs) > 0 && !roleAllowed(t.RoleARN, s.cfg.AllowedRoleARNs) {
		return Errorf(Invalid, "role_arn %q is not one this registry may pass to SageMaker (allowed: %s)", t.RoleARN, strings.Join(s.cfg.AllowedRoleARNs, ", "))
	}
	return nil
}

// roleAllowed reports whether arn matches one of allowed: exactly, or by
// prefix where the pattern ends in '*'.
func roleAllowed(arn string, allowed []string) bool {
	for _, p := range allowed {
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(arn, pre) || p == arn {
			return true
		}
	}
	return false
}

// targetDetails describes a target in an audit entry (never its secret).
func targetDetails(t DeployTarget) map[string]string {
	d := map[string]string{"target": t.ID, "kind": string(t.Kind)}
	switch t.Kind {
	case TargetWebhook:
		d["url"], d["fingerprint"] = t.URL, t.SecretFingerprint
	case TargetSageMaker:
		d["endpoint"], d["image_uri"], d["role_arn"], d["instance_type"] = t.Endpoint, t.ImageURI, t.RoleARN, t.InstanceType
		if t.ArtifactPath != "" {
			d["artifact_path"] = t.ArtifactPath
		}
	}
	return d
}

// validRoleARN reports whether arn is an IAM role ARN whose path and name
// are at most 512 characters (IAM's limit).
func validRoleARN(arn string) bool {
	m := roleARNRE.FindStringSubmatch(arn)
	return m != nil && len(m[1]) <= 512
}
