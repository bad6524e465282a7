package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Doer sends an HTTP request (an *http.Client, or the SDK's aws.HTTPClient).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Config is what every Client needs: where, as whom, and through what.
type Config struct {
	// Region is the AWS region requests are signed for and sent to.
	Region string
	// Credentials signs the requests (the SDK's providers fit; wrap slow
	// ones in aws.NewCredentialsCache).
	Credentials aws.CredentialsProvider
	// HTTP sends them; nil is a client shared by every Client, keeping up
	// to 64 idle connections per host.
	HTTP Doer
	// MaxAttempts bounds the tries of one request (0 means 3).
	MaxAttempts int
	// Getenv reads the environment for the SDK's endpoint overrides
	// AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL (nil: os.Getenv).
	Getenv func(string) string
	// BaseEndpoint, if set, is the endpoint of every service the
	// environment names none for (the SDK's aws.Config.BaseEndpoint: a
	// profile's endpoint_url).
	BaseEndpoint string
}

// ErrNoRegion and ErrNoCredentials are the causes of the errors New and
// a request return when FromEnv found no region or no credentials.
var (
	ErrNoRegion      = errors.New("no AWS region: set AWS_REGION")
	ErrNoCredentials = errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
)

// FromEnv is the configuration Lambda gives a function: the region in
// AWS_REGION (or AWS_DEFAULT_REGION) and the execution role's credentials
// in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. These
// are what the SDK's default chain reads first, and in Lambda the only
// credentials there are; reading them needs neither the SDK's config
// package nor its STS, SSO and IMDS clients. Like the SDK, it fails late:
// without credentials, each request fails with ErrNoCredentials; without a
// region, New fails with ErrNoRegion.
func FromEnv(getenv func(string) string) Config {
	region := strings.TrimSpace(getenv("AWS_REGION"))
	if region == "" {
		region = strings.TrimSpace(getenv("AWS_DEFAULT_REGION"))
	}
	c := Config{Region: region, Getenv: getenv}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		c.Credentials = missingCredentials{}
	} else {
		c.Credentials = staticCredentials{aws.Credentials{AccessKeyID: id, SecretAccessKey: secret,
			SessionToken: getenv("AWS_SESSION_TOKEN"), Source: "environment"}}
	}
	return c
}

// missingCredentials is the provider FromEnv gives without credentials.
type missingCredentials struct{}

func (missingCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, ErrNoCredentials
}

// FromSDK is the configuration an SDK aws.Config describes (from
// config.LoadDefaultConfig): its region, credential provider and HTTP client.
func FromSDK(cfg aws.Config) Config {
	c := Config{Region: cfg.Region, Credentials: cfg.Credentials, MaxAttempts: cfg.RetryMaxAttempts}
	if cfg.BaseEndpoint != nil {
		c.BaseEndpoint = *cfg.BaseEndpoint
	}
	if cfg.HTTPClient != nil {
		c.HTTP = cfg.HTTPClient
	}
	return c
}

// staticCredentials are fixed credentials.
type staticCredentials struct{ c aws.Credentials }

func (s staticCredentials) Retrieve(context.Context) (aws.Credentials, error) { return s.c, nil }

// StaticCredentials returns a provider of fixed credentials (tests and
// emulators).
func StaticCredentials(id, secret, token string) aws.CredentialsProvider {
	return staticCredentials{aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "static"}}
}

// defaultHTTP is the HTTP client of Configs without one: the standard
// transport's timeouts, more idle connections per host (a registry sends
// bursts to one endpoint), and no overall timeout, because artifact bodies
// stream for as long as they take; requests end with their context.
// Like the SDK's client it follows only the redirects that keep the
// method and body (307, 308); any other 3xx is the answer.
var defaultHTTP = &http.Client{CheckRedirect: limitedRedirect, Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          256,
	MaxIdleConnsPerHost:   64,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   10 * time.Second,
	ExpectContinueTimeout: time.Second,
}}

// limitedRedirect follows 307 and 308 only, without the session token
// on another host (net/http drops the Authorization there itself). A 301,
// 302 or 303 would turn a PUT or POST into a GET of somewhere else.
func limitedRedirect(r *http.Request, via []*http.Request) error {
	switch r.Response.StatusCode {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if via[len(via)-1].URL.Host != r.URL.Host {
			r.Header.Del("X-Amz-Security-Token")
		}
		return nil
	}
	return http.ErrUseLastResponse
}

func (c Config) attempts() int {
	if c.MaxAttempts <= 0 {
		return 3
	}
	return c.MaxAttempts
}

func (c Config) doer() Doer {
	if c.HTTP == nil {
		return defaultHTTP
	}
	return c.HTTP
}

// envEndpoint is the endpoint the environment sets for a service whose
// SDK environment name is name (AWS_ENDPOINT_URL_SECRETS_MANAGER, then
// AWS_ENDPOINT_URL), as the SDK's default configuration reads them.
func (c Config) envEndpoint(name string) string {
	if name != "" {
		if v := strings.TrimSpace(c.getenv("AWS_ENDPOINT_URL_" + name)); v != "" {
			return v
		}
	}
	if v := strings.TrimSpace(c.getenv("AWS_ENDPOINT_URL")); v != "" {
		return v
	}
	return c.BaseEndpoint
}

// getenv reads the environment through Getenv (os.Getenv when unset).
func (c Config) getenv(key string) string {
	if c.Getenv == nil {
		return os.Getenv(key)
	}
	return c.Getenv(key)
}

func (c Config) validate() error {
	if c.Region == "" {
		return ErrNoRegion
	}
	if c.Credentials == nil {
		return fmt.Errorf("awsapi: no credential provider")
	}
	return nil
}

// SDK is this configuration as an SDK aws.Config (region, credentials,
// HTTP client, attempts), for the one SDK client a caller still builds
// (SageMaker) and for app.AWS.Config, which FromSDK turns back into this.
func (c Config) SDK() aws.Config {
	cfg := aws.Config{Region: c.Region, Credentials: c.Credentials, RetryMaxAttempts: c.MaxAttempts}
	if c.BaseEndpoint != "" {
		cfg.BaseEndpoint = &c.BaseEndpoint
	}
	if c.HTTP != nil {
		cfg.HTTPClient = c.HTTP
	}
	return cfg
}
