package local_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/internal/latency"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// bearerAuth maps bearer tokens to principals.
type bearerAuth map[string]registry.Principal

func (a bearerAuth) Authenticate(r *http.Request) (registry.Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if p, found := a[tok]; ok && found {
		return p, nil
	}
	return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "unknown token")
}

// BenchmarkPromotionLatency measures, through shared/app with the local
// engine and the /v1 HTTP API, the time from `approve` (POST
// /v1/approvals/{id}/approve) returning to GET
// /v1/models/{name}/stages/Production serving the approved version, over
// promotionsPerOp promotions of one model (each replacing the previous
// Production version), on SQLite and, when MODELREG_DYNAMODB_ENDPOINT and
// MODELREG_S3_ENDPOINT are set (scripts/bench), on DynamoDB Local + MinIO.
// It reports p50 and p99 in milliseconds (and the approve call's own p50).
// Run with -benchtime 1x: one op is the whole series.
func BenchmarkPromotionLatency(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		cfg := app.Config{Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem, DataDir: b.TempDir(),
			PublicURL: "http://127.0.0.1:1", Embedded: embedded.Backends{}}
		benchPromotions(b, cfg)
	})
	b.Run("dynamodb", func(b *testing.B) {
		ddb, s3 := os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), os.Getenv("MODELREG_S3_ENDPOINT")
		if ddb == "" || s3 == "" {
			b.Skip("DynamoDB Local and MinIO not running (scripts/bench starts them)")
		}
		suffix := strings.ToLower(registry.RandomToken(6))
		cfg := app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, AWS: app.AWS{
			Config: &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(
				os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY"), "")},
			Region: "us-east-1", DynamoDBTable: "bench-promo-" + suffix, DynamoDBEndpoint: ddb,
			S3Bucket: "bench-promo-" + suffix, S3Endpoint: s3, CreateResources: true,
		}}
		benchPromotions(b, cfg)
	})
}

const promotionsPerOp = 200

func benchPromotions(b *testing.B, cfg app.Config) {
	ctx := context.Background()
	cfg.Workflow = app.WorkflowLocal
	cfg.Handlers = workflow.ServiceHandlers
	cfg.Secret = []byte(strings.Repeat("k", 32))
	cfg.Logger = slog.New(slog.DiscardHandler)
	a, err := app.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	auth := bearerAuth{
		"tok-publisher": {Name: "paul", Role: registry.RolePublisher},
		"tok-approver":  {Name: "anna", Role: registry.RoleApprover},
	}
	srv := httptest.NewServer(httpapi.New(a.Service, auth, httpapi.Options{Logger: cfg.Logger}))
	defer srv.Close()
	pub, appr := client.New(srv.URL, "tok-publisher"), client.New(srv.URL, "tok-approver")
	if _, err := pub.CreateModel(ctx, httpapi.NewModel{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	var latencies, approves []time.Duration
	b.ResetTimer()
	for range b.N {
		latencies, approves = latencies[:0], approves[:0]
		for range promotionsPerOp {
			b.StopTimer()
			v, err := pub.RegisterVersion(ctx, "bench", httpapi.RegisterRequest{Source: "s3://b/bench"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pub.Transition(ctx, "bench", v.Number, "Staging", "candidate"); err != nil {
				b.Fatal(err)
			}
			res, err := pub.Transition(ctx, "bench", v.Number, "Production", "bench")
			if err != nil || res.ApprovalID == "" {
				b.Fatalf("request: %+v, %v", res, err)
			}
			// The execution waits on its task token before anyone decides.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				ap, err := a.Service.GetApproval(ctx, res.ApprovalID)
				if err != nil {
					b.Fatal(err)
				}
				if ap.TaskToken != "" {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("approval %s never waited", res.ApprovalID)
				}
			}
			b.StartTimer()
			called := time.Now()
			if _, err := appr.DecideApproval(ctx, res.ApprovalID, true, "ok"); err != nil {
				b.Fatal(err)
			}
			returned := time.Now()
			for {
				pv, err := pub.StageVersion(ctx, "bench", "Production", nil)
				if err == nil && pv.Number == v.Number {
					break
				}
				if err != nil && !registry.IsCode(err, registry.NotFound) && !strings.Contains(err.Error(), "404") {
					b.Fatal(err)
				}
				if time.Since(returned) > 30*time.Second {
					b.Fatalf("version %d not served from Production 30s after its approval", v.Number)
				}
				time.Sleep(200 * time.Microsecond)
			}
			latencies = append(latencies, time.Since(returned))
			approves = append(approves, returned.Sub(called))
		}
	}
	b.StopTimer()
	b.ReportMetric(latency.MS(latency.Pct(latencies, 50)), "p50-ms")
	b.ReportMetric(latency.MS(latency.Pct(latencies, 99)), "p99-ms")
	b.ReportMetric(latency.MS(latency.Pct(approves, 50)), "approve-p50-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d promotions: approve → served p50 %s p99 %s max %s; the approve call itself p50 %s p99 %s",
		len(latencies), latency.Pct(latencies, 50), latency.Pct(latencies, 99), latency.Pct(latencies, 100), latency.Pct(approves, 50), latency.Pct(approves, 99))
}
