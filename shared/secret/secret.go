// Package secret reads the deployment's secrets for the Lambda functions:
// from AWS Secrets Manager when the environment names a secret's ARN, or
// by value from the environment (local runs, tests). One Reader per cold
// start; it counts and times its Secrets Manager calls, so that a
// function can report them apart from its init.
package secret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/awsapi"
)

// Service is the Secrets Manager API (AWS JSON 1.1) for awsapi.New.
var Service = awsapi.Service{SigningName: "secretsmanager", EndpointPrefix: "secretsmanager", TargetPrefix: "secretsmanager", JSONVersion: "1.1", EnvName: "SECRETS_MANAGER"}

// Reader reads secrets through a Secrets Manager client.
type Reader struct {
	api *awsapi.Client
	// err, if set, is why there is no client: every Get fails with it.
	err error

	mu      sync.Mutex
	calls   int
	elapsed time.Duration
}

// New returns a Reader on api, a client of Service. With a nil api it
// reads values from the environment only: Get fails.
func New(api *awsapi.Client) *Reader {
	if api == nil {
		return &Reader{err: errors.New("no Secrets Manager client")}
	}
	return &Reader{api: api}
}

// Open returns a Reader on cfg, at the endpoint its environment names
// (AWS_ENDPOINT_URL_SECRETS_MANAGER, then AWS_ENDPOINT_URL, as the SDK
// reads them) or else the region's. When no client can be made of cfg (no
// region, a bad endpoint URL), Open still returns a Reader, whose Get
// fails with why: a function that reads no secret from Secrets Manager
// needs no AWS configuration for it.
func Open(cfg awsapi.Config) *Reader {
	api, err := awsapi.New(cfg, Service, "")
	if err != nil {
		return &Reader{err: fmt.Errorf("Secrets Manager client: %w", err)}
	}
	return &Reader{api: api}
}

// getSecretValueInput and getSecretValueOutput are Secrets Manager's
// GetSecretValue request and the part of its answer the Reader reads.
type getSecretValueInput struct {
	SecretID string `json:"SecretId"`
}

type getSecretValueOutput struct {
	// SecretString is nil for a secret that holds SecretBinary.
	SecretString *string `json:"SecretString"`
}

// Get returns the current string value of the secret id (an ARN or name),
// without surrounding white space. A secret that cannot be read, or holds
// no string, is an error naming it.
func (r *Reader) Get(ctx context.Context, id string) (string, error) {
	if r.err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, r.err)
	}
	start := time.Now()
	var out getSecretValueOutput
	err := r.api.JSON(ctx, "GetSecretValue", getSecretValueInput{SecretID: id}, &out)
	r.mu.Lock()
	r.calls++
	r.elapsed += time.Since(start)
	r.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("read secret %s: it holds no string value", id)
	}
	return strings.TrimSpace(*out.SecretString), nil
}

// FromEnv returns the secret the environment names: the value of the
// Secrets Manager secret whose ARN is env(arnVar) when set, else the value
// env(valueVar) itself (trimmed); "" when neither is set, which the caller
// refuses or treats as "off".
func (r *Reader) FromEnv(ctx context.Context, env func(string) string, arnVar, valueVar string) (string, error) {
	if arn := strings.TrimSpace(env(arnVar)); arn != "" {
		v, err := r.Get(ctx, arn)
		if err != nil {
			return "", fmt.Errorf("%s: %w", arnVar, err)
		}
		return v, nil
	}
	if valueVar == "" {
		return "", nil
	}
	return strings.TrimSpace(env(valueVar)), nil
}

// Calls returns how many Secrets Manager calls the Reader made and how
// long they took together.
func (r *Reader) Calls() (n int, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, r.elapsed
}

// The environment variables of the deployment's secret (32+ bytes; the
// keys of page tokens, console sessions and signed URLs derive from it).
const (
	EnvDeploymentARN   = "MODELREG_SECRET_ARN" // a Secrets Manager secret holding it
	EnvDeploymentValue = "MODELREG_SECRET"     // the value itself (local runs, tests)
)

// Deployment returns the deployment's secret from EnvDeploymentARN or
// EnvDeploymentValue. With neither set, a function that signs nothing
// that outlives its process (ephemeralOK: no page tokens, console cookies
// or URLs handed to callers) gets Random() for this cold start; the others
// get an error naming both variables.
func (r *Reader) Deployment(ctx context.Context, env func(string) string, ephemeralOK bool) ([]byte, error) {
	v, err := r.FromEnv(ctx, env, EnvDeploymentARN, EnvDeploymentValue)
	switch {
	case err != nil:
		return nil, err
	case v != "":
		return []byte(v), nil
	case ephemeralOK:
		return Random(), nil
	}
	return nil, fmt.Errorf("the deployment's secret is not configured: set %s (or %s)", EnvDeploymentARN, EnvDeploymentValue)
}

// Random returns a new random secret of 52 characters (260 bits), for a
// process whose signatures never leave it.
func Random() []byte { return []byte(rand.Text() + rand.Text()) }
