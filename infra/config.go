package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Config is everything the stack can be told, read in one place (main.go)
// from the CDK context key "modelreg" (cdk.json, or `cdk deploy -c
// modelreg='{"sagemakerPrefix":"churn-"}'`). Unknown keys are refused.
type Config struct {
	// StackName is the CloudFormation stack's name (default "modelreg").
	StackName string `json:"stackName"`
	// BuildDir holds one directory per function with its bootstrap, as
	// scripts/build-lambdas writes them (default "../build", relative to
	// infra/, where the app runs).
	BuildDir string `json:"buildDir"`
	// ArtifactPrefix is the key prefix of artifacts in the bucket (default
	// "models/"); upload scratch lives under ArtifactPrefix + ".uploads/".
	ArtifactPrefix string `json:"artifactPrefix"`
	// NoncurrentVersionDays is how long an overwritten or deleted
	// object's old version is kept (default 30).
	NoncurrentVersionDays int `json:"noncurrentVersionDays"`
	// AbandonedUploadDays is when S3 aborts incomplete multipart uploads and
	// expires upload scratch (default 7; the sweeper cleans up sooner).
	AbandonedUploadDays int `json:"abandonedUploadDays"`
	// CORSOrigins may PUT presigned parts from a browser (the console's
	// origin; default none, so browser uploads need it set).
	CORSOrigins []string `json:"corsOrigins"`
	// Roles maps IAM role ARNs (or assumed-role ARNs' role part) to a
	// registry role and groups: {"arn:aws:iam::1:role/Approvers":
	// {"role":"approver","groups":["ml"]}}. Passed to the api function.
	Roles map[string]RoleMapping `json:"roles"`
	// SageMakerPrefix: SageMaker endpoints, models and endpoint configs
	// the redeploy function may touch start with it (default "modelreg-").
	SageMakerPrefix string `json:"sagemakerPrefix"`
	// SageMakerRoles are the execution role ARNs the redeploy function may
	// pass to SageMaker (iam:PassRole); none by default.
	SageMakerRoles []string `json:"sagemakerRoles"`
	// NotifyEmails are subscribed to the notifications topic.
	NotifyEmails []string `json:"notifyEmails"`
	// AlarmEmails are subscribed to the alarms topic.
	AlarmEmails []string `json:"alarmEmails"`
	// ThrottleRate and ThrottleBurst limit the API (default 50/s, 100).
	ThrottleRate  float64 `json:"throttleRate"`
	ThrottleBurst int     `json:"throttleBurst"`
	// SweepSchedule runs the upload sweeper (default "rate(15 minutes)").
	SweepSchedule string `json:"sweepSchedule"`
	// DomainName and CertificateARN, both or neither, give the API a
	// custom domain (an ACM certificate in the stack's region).
	DomainName     string `json:"domainName"`
	CertificateARN string `json:"certificateArn"`
	// OIDC, if set, signs people in to the console through an OIDC
	// provider the operator brings (a Cognito user pool and app client);
	// without it the console on AWS has no sign-in.
	OIDC *OIDCConfig `json:"oidc"`
}

// OIDCConfig is the console's sign-in through a Cognito user pool (or any
// OIDC provider with Cognito's endpoint layout) the operator created.
type OIDCConfig struct {
	// Issuer is the "iss" of the ID tokens:
	// https://cognito-idp.REGION.amazonaws.com/POOL_ID.
	Issuer string `json:"issuer"`
	// Domain is the user pool's hosted UI domain
	// (https://PREFIX.auth.REGION.amazoncognito.com or a custom one): the
	// authorize and token endpoints are its /oauth2/authorize and
	// /oauth2/token.
	Domain string `json:"domain"`
	// ClientID is the app client's id.
	ClientID string `json:"clientId"`
	// ClientSecretARN, if set, is a Secrets Manager secret holding the app
	// client's secret (a confidential client); without it the client is
	// public (PKCE only).
	ClientSecretARN string `json:"clientSecretArn"`
	// GroupRoles maps a user pool group (the cognito:groups claim) to a
	// registry role: {"ml-approvers":"approver"}.
	GroupRoles map[string]string `json:"groupRoles"`
}

// Endpoints are the OIDC settings the api function gets (the endpoints
// derived from the issuer and domain).
func (o OIDCConfig) Endpoints() (authorize, token, jwks string) {
	d := strings.TrimSuffix(o.Domain, "/")
	return d + "/oauth2/authorize", d + "/oauth2/token", strings.TrimSuffix(o.Issuer, "/") + "/.well-known/jwks.json"
}

// RoleMapping is the registry role and groups an IAM role maps to.
type RoleMapping struct {
	Role   string   `json:"role"`
	Groups []string `json:"groups,omitempty"`
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		StackName: "modelreg", BuildDir: "../build", ArtifactPrefix: "models/",
		NoncurrentVersionDays: 30, AbandonedUploadDays: 7, SageMakerPrefix: "modelreg-",
		ThrottleRate: 50, ThrottleBurst: 100, SweepSchedule: "rate(15 minutes)",
	}
}

var (
	secretARN      = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
	httpsURL       = regexp.MustCompile(`^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%/-]*)?$`)
	roleARN        = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$`)
	sagemakerName  = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}-?$`)
	artifactPrefix = regexp.MustCompile(`^([A-Za-z0-9_.-]+/)+$`)
)

// ParseConfig reads the "modelreg" context value (nil: the defaults) over
// the defaults and checks it.
func ParseConfig(ctxValue any) (Config, error) {
	c := DefaultConfig()
	if ctxValue != nil {
		b, err := json.Marshal(ctxValue)
		if err != nil {
			return c, fmt.Errorf("context modelreg: %w", err)
		}
		if s, ok := ctxValue.(string); ok { // -c modelreg='{...}' arrives as a string
			b = []byte(s)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("context modelreg: %w", err)
		}
	}
	return c, c.Check()
}

// Check reports the first setting that cannot work.
func (c Config) Check() error {
	switch {
	case c.StackName == "":
		return fmt.Errorf("context modelreg: stackName is empty")
	case c.BuildDir == "":
		return fmt.Errorf("context modelreg: buildDir is empty")
	case !artifactPrefix.MatchString(c.ArtifactPrefix):
		return fmt.Errorf("context modelreg: artifactPrefix %q must be one or more path segments each ending in /", c.ArtifactPrefix)
	case c.NoncurrentVersionDays < 1 || c.AbandonedUploadDays < 1:
		return fmt.Errorf("context modelreg: noncurrentVersionDays and abandonedUploadDays must be at least 1")
	case !sagemakerName.MatchString(c.SageMakerPrefix):
		return fmt.Errorf("context modelreg: sagemakerPrefix %q is not the start of a SageMaker name (letters, digits, hyphens)", c.SageMakerPrefix)
	case c.ThrottleRate <= 0 || c.ThrottleBurst <= 0:
		return fmt.Errorf("context modelreg: throttleRate and throttleBurst must be positive")
	case (c.DomainName == "") != (c.CertificateARN == ""):
		return fmt.Errorf("context modelreg: domainName and certificateArn go together")
	case !strings.HasPrefix(c.SweepSchedule, "rate(") && !strings.HasPrefix(c.SweepSchedule, "cron("):
		return fmt.Errorf("context modelreg: sweepSchedule %q is not rate(...) or cron(...)", c.SweepSchedule)
	}
	if len(c.StackName) > maxStackName {
		return fmt.Errorf("context modelreg: stackName %q is longer than %d characters (function names derive from it)", c.StackName, maxStackName)
	}
	if err := c.OIDC.check(); err != nil {
		return err
	}
	for _, r := range c.SageMakerRoles {
		if !roleARN.MatchString(r) {
			return fmt.Errorf("context modelreg: sagemakerRoles: %q is not an IAM role ARN", r)
		}
	}
	for arn, m := range c.Roles {
		if !roleARN.MatchString(arn) {
			return fmt.Errorf("context modelreg: roles: %q is not an IAM role ARN", arn)
		}
		switch m.Role {
		case "reader", "publisher", "approver", "admin":
		default:
			return fmt.Errorf("context modelreg: roles: %s maps to %q, not reader, publisher, approver or admin", arn, m.Role)
		}
	}
	for _, o := range c.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://localhost") {
			return fmt.Errorf("context modelreg: corsOrigins: %q must be an https:// origin", o)
		}
	}
	return nil
}

// maxStackName keeps the names derived from the stack name within
// Lambda's 64 characters (StackName + "-verify-upload").
const maxStackName = 64 - len("-verify-upload")

// check reports the first OIDC setting that cannot work (nil o: none).
func (o *OIDCConfig) check() error {
	if o == nil {
		return nil
	}
	switch {
	case !httpsURL.MatchString(o.Issuer) || strings.HasSuffix(o.Issuer, "/"):
		// The ID tokens' "iss" must equal it exactly: no trailing slash.
		return fmt.Errorf("context modelreg: oidc.issuer %q must be an https:// URL without a trailing / (https://cognito-idp.REGION.amazonaws.com/POOL_ID)", o.Issuer)
	case !httpsURL.MatchString(o.Domain):
		return fmt.Errorf("context modelreg: oidc.domain %q must be an https:// URL (the user pool's hosted UI domain)", o.Domain)
	case o.ClientID == "":
		return fmt.Errorf("context modelreg: oidc.clientId is empty")
	case o.ClientSecretARN != "" && !secretARN.MatchString(o.ClientSecretARN):
		return fmt.Errorf("context modelreg: oidc.clientSecretArn %q is not a Secrets Manager secret ARN", o.ClientSecretARN)
	case len(o.GroupRoles) == 0:
		return fmt.Errorf("context modelreg: oidc.groupRoles is empty: nobody could sign in")
	}
	for g, r := range o.GroupRoles {
		switch r {
		case "reader", "publisher", "approver", "admin":
		default:
			return fmt.Errorf("context modelreg: oidc.groupRoles: %s maps to %q, not reader, publisher, approver or admin", g, r)
		}
	}
	return nil
}
