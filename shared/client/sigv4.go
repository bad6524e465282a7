package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// SigV4Service is the service API Gateway's IAM authorizer checks
// signatures for.
const SigV4Service = "execute-api"

// ErrCredentials is the cause of the error a signed request returns when
// no AWS credentials could be had (none configured, an expired SSO login, a
// role that cannot be assumed). Such a request is not retried.
var ErrCredentials = errors.New("no AWS credentials")

// ErrNoRegion is the cause of the error LoadSigV4 returns when no region
// to sign for is known.
var ErrNoRegion = errors.New("no AWS region to sign for")

// SigV4 signs API requests with AWS Signature Version 4 for a registry
// behind API Gateway's IAM authorizer, with aws-sdk-go-v2's signer. Only
// /v1 API requests are signed: presigned upload and download URLs carry
// their own signature and are sent as they are (an Authorization header
// would make S3 refuse them).
//
// The signature covers the method, path, query, every header the request
// has when it is signed (Host, Content-Length, Content-Type,
// Idempotency-Key, X-Amz-Date, X-Amz-Security-Token) and the SHA-256 of the
// body; the signer rewrites the query in its canonical form (a space as
// %20, never "+"), so what is sent is what was signed. API bodies are
// small JSON documents the client already holds, so
// hashing them buffers nothing more. Each attempt is signed afresh, so a
// retry carries a new X-Amz-Date with the same Idempotency-Key.
type SigV4 struct {
	// Region is the region signed for.
	Region string
	creds  aws.CredentialsProvider
	signer *v4.Signer
	// now is the local clock (time.Now; tests move it).
	now func() time.Time
	// skew is the server's clock minus ours, in nanoseconds, learned from
	// a refusal for clock skew and added to every signing time after it.
	skew atomic.Int64
}

// NewSigV4 returns a signer for region with the credentials of creds. The
// credentials are fetched through aws.CredentialsCache (creds itself if it
// is one already), so they are fetched once and refreshed before they
// expire, not fetched per request.
func NewSigV4(creds aws.CredentialsProvider, region string) *SigV4 {
	if _, ok := creds.(*aws.CredentialsCache); !ok && creds != nil {
		creds = aws.NewCredentialsCache(creds)
	}
	return &SigV4{Region: region, creds: creds, signer: v4.NewSigner(), now: time.Now}
}

// LoadSigV4 returns a signer for the registry at baseURL with the default
// AWS credential chain (environment, shared config and SSO profiles, web
// identity, ECS and EC2 roles). The region is MODELREG_AWS_REGION if set,
// else the one an execute-api URL names
// (https://ID.execute-api.REGION.amazonaws.com), else the AWS
// configuration's (AWS_REGION, AWS_DEFAULT_REGION, the profile's region);
// with none, the error wraps ErrNoRegion. Nothing is fetched here: the
// credentials are fetched with the first request.
func LoadSigV4(ctx context.Context, baseURL string) (*SigV4, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("sigv4: load AWS configuration: %w", err)
	}
	region := os.Getenv("MODELREG_AWS_REGION")
	if region == "" {
		region = RegionFromURL(baseURL)
	}
	if region == "" {
		region = cfg.Region
	}
	if region == "" {
		return nil, fmt.Errorf("sigv4: %w: set AWS_REGION (or MODELREG_AWS_REGION), or use the API's https://ID.execute-api.REGION.amazonaws.com URL", ErrNoRegion)
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("sigv4: %w in the AWS configuration", ErrCredentials)
	}
	return NewSigV4(cfg.Credentials, region), nil
}

// executeAPIHost matches API Gateway's default and VPC endpoint host
// names and captures the region.
var executeAPIHost = regexp.MustCompile(`\.execute-api\.([a-z]{2}(?:-[a-z]+)+-[0-9]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$`)

// RegionFromURL returns the region an API Gateway URL names
// (https://ID.execute-api.REGION.amazonaws.com, or a VPC endpoint's
// ….execute-api.REGION.vpce.amazonaws.com), or "" for any other URL (a
// custom domain, a local server).
func RegionFromURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if m := executeAPIHost.FindStringSubmatch(strings.ToLower(u.Hostname())); m != nil {
		return m[1]
	}
	return ""
}

// Sign signs req, whose body is payload (nil for none), for this moment as
// the server counts it. It replaces any Authorization header.
func (s *SigV4) Sign(ctx context.Context, req *http.Request, payload []byte) error {
	if s.creds == nil {
		return fmt.Errorf("sigv4: %w", ErrCredentials)
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("sigv4: %w: %v", ErrCredentials, err)
	}
	sum := sha256.Sum256(payload)
	req.Header.Del("Authorization")
	req.Header.Del("X-Amz-Security-Token")
	at := s.now().Add(time.Duration(s.skew.Load()))
	if err := s.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigV4Service, s.Region, at); err != nil {
		return fmt.Errorf("sigv4: sign %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// skewTime captures the server's time in API Gateway's refusal of a
// signature dated more than five minutes from its clock: "Signature
// expired: 20260102T030405Z is now earlier than 20260102T031000Z
// (20260102T031500Z - 5 min.)", or "Signature not yet current: … is still
// later than … (… + 5 min.)".
var skewTime = regexp.MustCompile(`\(([0-9]{8}T[0-9]{6}Z) [-+] [0-9]+ min\.\)`)

// skewThreshold is how far a correction must move the signing time to be
// worth a new attempt: API Gateway allows five minutes either way, so a
// refused signature is at least that far off.
const skewThreshold = time.Minute

// correctSkew learns the server's clock from a 403 refusal for clock skew
// (the time in its message, else its Date header) and reports whether the
// signing time moved, so the request is worth signing and sending again.
func (s *SigV4) correctSkew(message, date string) bool {
	if !strings.Contains(message, "Signature expired") && !strings.Contains(message, "Signature not yet current") {
		return false
	}
	var server time.Time
	if m := skewTime.FindStringSubmatch(message); m != nil {
		server, _ = time.Parse("20060102T150405Z", m[1])
	}
	if server.IsZero() {
		var err error
		if server, err = http.ParseTime(date); err != nil {
			return false
		}
	}
	skew := server.Sub(s.now())
	old := time.Duration(s.skew.Swap(int64(skew)))
	return (skew - old).Abs() >= skewThreshold
}
