// Command sweeper is the Lambda function the stack's schedule (an
// EventBridge rule, "Scheduled Event") runs: it expires abandoned upload
// sessions — aborts their multipart uploads, discards their partial files
// and fails their versions (registry.Service.SweepUploads) — as `modelreg
// serve` does in the background; then it asks the verify-upload function
// again to verify every version left VERIFYING
// (registry.Service.RecoverVerifications: an asynchronous invoke that was
// lost, or a verification that gave up on a storage error), as `modelreg
// serve` does every 30 s. Asking again is safe: a verification is
// idempotent, and one already running answers the repeated one. It wires
// through shared/app: the DynamoDB store and the S3 artifacts, no events,
// no workflow. Configuration, from the environment:
//
//	MODELREG_DYNAMODB_TABLE   the registry's table (required)
//	MODELREG_S3_BUCKET        the artifact bucket (required)
//	MODELREG_S3_PREFIX        key prefix inside the bucket (optional)
//	MODELREG_UPLOAD_GRACE     how long past expiry a session may still be resumed (default 24h)
//	MODELREG_VERIFY_FUNCTION  the verify-upload function (name or ARN); without
//	                          it, no verification is recovered
//	MODELREG_DYNAMODB_ENDPOINT, MODELREG_S3_ENDPOINT, MODELREG_VERIFY_ENDPOINT
//	                          other endpoints than AWS's (tests: DynamoDB Local,
//	                          MinIO, a Lambda API server)
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	grace, err := parseGrace(os.Getenv("MODELREG_UPLOAD_GRACE"))
	if err == nil {
		var h *handler
		awsCfg := awsapi.FromEnv(os.Getenv).SDK() // Lambda's region and role credentials
		h, _, err = setup(context.Background(), app.AWS{
			Config:        &awsCfg,
			DynamoDBTable: os.Getenv("MODELREG_DYNAMODB_TABLE"),
			S3Bucket:      os.Getenv("MODELREG_S3_BUCKET"),
			S3Prefix:      os.Getenv("MODELREG_S3_PREFIX"),
			// VerifyFunction is the invoker of RecoverVerifications.
			VerifyFunction:   os.Getenv("MODELREG_VERIFY_FUNCTION"),
			DynamoDBEndpoint: os.Getenv("MODELREG_DYNAMODB_ENDPOINT"),
			S3Endpoint:       os.Getenv("MODELREG_S3_ENDPOINT"),
			VerifyEndpoint:   os.Getenv("MODELREG_VERIFY_ENDPOINT"),
		}, grace, log)
		if err == nil {
			lambda.Start(h.Handle)
			return
		}
	}
	log.Error("sweeper: setup", "error", err)
	os.Exit(1)
}

// parseGrace reads MODELREG_UPLOAD_GRACE ("" is the default).
func parseGrace(s string) (time.Duration, error) {
	if s == "" {
		return registry.DefaultUploadGrace, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("MODELREG_UPLOAD_GRACE %q: want a positive duration such as 24h", s)
	}
	return d, nil
}

// handler runs one sweep and one recovery per scheduled event.
type handler struct {
	svc *registry.Service
	log *slog.Logger
}

// Result is the function's answer: how many sessions it expired, and for
// how many VERIFYING versions it asked verify-upload again.
type Result struct {
	Swept      int `json:"swept"`
	Reverified int `json:"reverified"`
}

// Handle sweeps once, then recovers the verifications, also when the sweep
// failed on some sessions (the two are independent). It fails (and the
// schedule runs it again) when a session could not be expired or the
// verifying versions could not be listed; what it did is counted anyway.
func (h *handler) Handle(ctx context.Context, ev events.EventBridgeEvent) (Result, error) {
	n, err := h.svc.SweepUploads(ctx)
	h.log.InfoContext(ctx, "sweeper: swept upload sessions", "event_id", ev.ID, "swept", n, "error", err)
	m, rerr := h.svc.RecoverVerifications(ctx)
	h.log.InfoContext(ctx, "sweeper: asked again for verifications", "event_id", ev.ID, "versions", m, "error", rerr)
	return Result{Swept: n, Reverified: m}, errors.Join(err, rerr)
}

// setup builds the app on aws (SDK clients once per cold start) and the
// handler. Tests pass endpoints and a configuration in aws; the caller
// closes the App (a Lambda process never does).
func setup(ctx context.Context, aws app.AWS, grace time.Duration, log *slog.Logger) (*handler, *app.App, error) {
	if aws.DynamoDBTable == "" || aws.S3Bucket == "" {
		return nil, nil, errors.New("MODELREG_DYNAMODB_TABLE and MODELREG_S3_BUCKET must be set")
	}
	if log == nil {
		log = slog.Default()
	}
	// The sweep issues no page tokens: the secret the app requires is
	// random per cold start, so no secret store is read for it.
	secret := make([]byte, 32)
	rand.Read(secret)
	sc := registry.Config{UploadGrace: grace}
	if aws.VerifyFunction == "" {
		// No function to ask: no recovery (shared/app would otherwise give
		// the service an in-process queue that nothing here runs).
		sc.VerifyAsyncBytes = -1
		log.Warn("sweeper: MODELREG_VERIFY_FUNCTION is not set; versions left VERIFYING are not recovered")
	}
	a, err := app.New(ctx, app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Events: app.EventsNone,
		Secret: secret, AWS: aws, Logger: log, Service: sc,
	})
	if err != nil {
		return nil, nil, err
	}
	return &handler{svc: a.Service, log: log}, a, nil
}
