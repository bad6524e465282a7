package redeploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/redeploy"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secretbox"
	"github.com/modelreg/modelreg/shared/webhook"
	"github.com/modelreg/modelreg/shared/workflow"
)

var _ redeploy.Registry = (*registry.Service)(nil)

// delivery is one webhook the receiver accepted.
type delivery struct {
	eventID string
	payload redeploy.Payload
	at      time.Time
}

// receiver is a webhook receiver that checks every signature and records
// what it got, in order.
type receiver struct {
	t      testing.TB
	secret []byte
	mu     sync.Mutex
	got    []delivery
	bad    []string
	notify chan struct{}
}

func newReceiver(t testing.TB, secret string) (*receiver, *httptest.Server) {
	r := &receiver{t: t, secret: []byte(secret), notify: make(chan struct{}, 1024)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	at := time.Now()
	if err := webhook.Verify(r.secret, req.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p redeploy.Payload
	if err := json.Unmarshal(body, &p); err != nil || req.Header.Get("Content-Type") != "application/json" {
		r.mu.Lock()
		r.bad = append(r.bad, "payload: "+string(body))
		r.mu.Unlock()
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, delivery{eventID: req.Header.Get(webhook.HeaderEventID), payload: p, at: at})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	r.notify <- struct{}{}
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitFor waits until the receiver holds n deliveries.
func (r *receiver) waitFor(n int) []delivery {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := r.deliveries(); len(got) >= n {
			return got
		}
		select {
		case <-r.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("receiver holds %d deliveries after 20s, want %d (refused: %v)", len(r.deliveries()), n, r.bad)
		}
	}
}

// stores are the backends the end-to-end tests run on: SQLite always,
// DynamoDB Local + MinIO when scripts/test started them.
func stores(t testing.TB) map[string]func(testing.TB) app.Config {
	m := map[string]func(testing.TB) app.Config{
		"sqlite": func(t testing.TB) app.Config {
			return app.Config{Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem, DataDir: t.TempDir(),
				PublicURL: "http://127.0.0.1:1", Embedded: embedded.Backends{}}
		},
	}
	ddb, s3 := os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), os.Getenv("MODELREG_S3_ENDPOINT")
	if ddb == "" || s3 == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MODELREG_DYNAMODB_ENDPOINT and MODELREG_S3_ENDPOINT are not set (CI=true: the DynamoDB runs must happen)")
		}
		return m
	}
	m["dynamodb"] = func(t testing.TB) app.Config {
		suffix := strings.ToLower(registry.RandomToken(6))
		return app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, DataDir: t.TempDir(), AWS: app.AWS{
			Config: &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(
				os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY"), "")},
			Region: "us-east-1", DynamoDBTable: "redeploy-" + suffix, DynamoDBEndpoint: ddb,
			S3Bucket: "redeploy-" + suffix, S3Endpoint: s3, CreateResources: true,
		}}
	}
	return m
}

var (
	admin     = registry.Principal{Name: "root", Role: registry.RoleAdmin}
	publisher = registry.Principal{Name: "paul", Role: registry.RolePublisher}
	approver  = registry.Principal{Name: "anna", Role: registry.RoleApprover}
)

func as(p registry.Principal) context.Context { return registry.WithPrincipal(context.Background(), p) }

// startApp builds and starts the app cfg describes, with the local engine
// and bus, private webhooks allowed (the receiver is on loopback), and
// quick webhook retries.
func startApp(t testing.TB, cfg app.Config) *app.App {
	t.Helper()
	cfg.Workflow, cfg.Handlers, cfg.Events = app.WorkflowLocal, workflow.ServiceHandlers, app.EventsLocal
	cfg.Secret = []byte(strings.Repeat("k", 32))
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.AllowPrivateWebhooks = true
	cfg.Webhook = webhook.Options{Backoff: 5 * time.Millisecond, Timeout: 5 * time.Second}
	if cfg.Service.Secrets == nil {
		box, err := secretbox.OpenLocal(cfg.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Service.Secrets = box
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if a.Redeploy == nil {
		t.Fatal("the app has no redeploy consumer")
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

// promote takes version n of model to Production through an approval.
func promote(t testing.TB, a *app.App, model string, n int) {
	t.Helper()
	svc := a.Service
	if _, err := svc.Transition(as(publisher), model, n, registry.StageStaging, "candidate"); err != nil && !registry.IsCode(err, registry.Conflict) {
		t.Fatal(err)
	}
	res, err := svc.Transition(as(publisher), model, n, registry.StageProduction, "ready")
	if err != nil || res.Approval == nil {
		t.Fatalf("request Production: %+v %v", res, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		ap, err := svc.GetApproval(context.Background(), res.Approval.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ap.TaskToken != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approval %s never waited", ap.ID)
		}
	}
	if _, err := svc.DecideApproval(as(approver), res.Approval.ID, true, "ok"); err != nil {
		t.Fatal(err)
	}
}

// setup creates model with versions 1..n (external sources) and a webhook
// target pointing at the receiver.
func setup(t testing.TB, a *app.App, model string, n int, url, secret string) registry.DeployTarget {
	t.Helper()
	if _, err := a.Service.CreateModel(as(admin), registry.NewModel{Name: model}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := a.Service.RegisterVersion(as(publisher), model, registry.NewVersion{Source: "s3://training/" + model + "/model.tar.gz"}); err != nil {
			t.Fatal(err)
		}
	}
	tg, err := a.Service.AddDeployTarget(as(admin), model, registry.DeployTargetSpec{Kind: registry.TargetWebhook, URL: url, Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestEndToEnd: on each store, through the real app (local engine, outbox
// relay, local bus), a receiver gets exactly one correctly signed payload
// per Production change — two promotions and a rollback — and each
// deployment ends SUCCEEDED in the model's records.
func TestEndToEnd(t *testing.T) {
	for name, cfg := range stores(t) {
		t.Run(name, func(t *testing.T) {
			rec, srv := newReceiver(t, "whsec-e2e-0123456789")
			a := startApp(t, cfg(t))
			tg := setup(t, a, "fraud_model", 2, srv.URL+"/deploy", "whsec-e2e-0123456789")

			promote(t, a, "fraud_model", 1)
			rec.waitFor(1)
			promote(t, a, "fraud_model", 2)
			rec.waitFor(2)
			if _, err := a.Service.Rollback(as(admin), "fraud_model", 1, "v2 misbehaves"); err != nil {
				t.Fatal(err)
			}
			got := rec.waitFor(3)
			time.Sleep(200 * time.Millisecond) // nothing more may arrive
			if got = rec.deliveries(); len(got) != 3 {
				t.Fatalf("%d deliveries, want 3: %+v", len(got), got)
			}
			want := []struct {
				version, prev int
				rollback      bool
			}{{1, 0, false}, {2, 1, false}, {1, 2, true}}
			for i, d := range got {
				p := d.payload
				if p.Version != want[i].version || p.PreviousVersion != want[i].prev || p.Rollback != want[i].rollback ||
					p.Model != "fraud_model" || p.Stage != registry.StageProduction || p.EventID != d.eventID || p.TargetID != tg.ID ||
					p.SourceURI != "s3://training/fraud_model/model.tar.gz" {
					t.Errorf("delivery %d: %+v (event id header %s)", i, p, d.eventID)
				}
				dep, err := a.Service.GetDeployment(context.Background(), "fraud_model", p.DeploymentID)
				if err != nil {
					t.Fatal(err)
				}
				for dep.Status == registry.DeploymentStarted { // the outcome is recorded right after the answer
					time.Sleep(5 * time.Millisecond)
					dep, _ = a.Service.GetDeployment(context.Background(), "fraud_model", p.DeploymentID)
				}
				if dep.Status != registry.DeploymentSucceeded || dep.Version != p.Version || dep.EventID != d.eventID {
					t.Errorf("deployment %d: %+v", i, dep)
				}
			}
			if rec.bad != nil {
				t.Errorf("refused deliveries: %v", rec.bad)
			}
		})
	}
}

// TestSameEventTwice: on each store, the stage-change event delivered again
// to the handler — by the same handler, and by a new one as after a
// restart — calls each target once.
func TestSameEventTwice(t *testing.T) {
	for name, cfg := range stores(t) {
		t.Run(name, func(t *testing.T) {
			recA, srvA := newReceiver(t, "secret-a-0123456789")
			recB, srvB := newReceiver(t, "secret-b-0123456789")
			a := startApp(t, cfg(t))
			setup(t, a, "m", 1, srvA.URL, "secret-a-0123456789")
			if _, err := a.Service.AddDeployTarget(as(admin), "m", registry.DeployTargetSpec{Kind: registry.TargetWebhook, URL: srvB.URL, Secret: []byte("secret-b-0123456789")}); err != nil {
				t.Fatal(err)
			}
			promote(t, a, "m", 1)
			first := recA.waitFor(1)[0]
			recB.waitFor(1)
			// The event as the bus delivered it.
			e := registry.Event{ID: first.eventID, Type: registry.EventStageChanged, Source: registry.EventSource, Time: first.payload.Time,
				Detail: registry.EventDetail{Model: "m", Version: 1, From: registry.StageStaging, To: registry.StageProduction, Actor: first.payload.Actor}}
			again := &redeploy.Handler{Registry: a.Service, Webhooks: webhook.New(webhook.Options{AllowPrivate: true})}
			for _, h := range []*redeploy.Handler{a.Redeploy, a.Redeploy, again} {
				// Until the first delivery's outcome is recorded, the
				// deployment is in flight: a redelivery is told to wait.
				err := h.Handle(context.Background(), e)
				for deadline := time.Now().Add(10 * time.Second); errors.Is(err, redeploy.ErrInProgress) && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
					err = h.Handle(context.Background(), e)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond)
			if a, b := len(recA.deliveries()), len(recB.deliveries()); a != 1 || b != 1 {
				t.Fatalf("deliveries: a %d, b %d; want one each", a, b)
			}
		})
	}
}

// TestAppRefusesPrivateWebhooks: the app wires the SSRF rule into the
// service: without AllowPrivateWebhooks a loopback or metadata URL is
// refused when the target is added, with it the same URL is accepted.
func TestAppRefusesPrivateWebhooks(t *testing.T) {
	for _, allow := range []bool{false, true} {
		dir := t.TempDir()
		box, err := secretbox.OpenLocal(dir)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.New(context.Background(), app.Config{Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem, DataDir: dir,
			PublicURL: "http://127.0.0.1:1", Embedded: embedded.Backends{}, Secret: []byte(strings.Repeat("k", 32)),
			Logger: slog.New(slog.DiscardHandler), AllowPrivateWebhooks: allow, Service: registry.Config{Secrets: box}})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.Service.CreateModel(as(admin), registry.NewModel{Name: "m"}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data/"} {
			_, err := a.Service.AddDeployTarget(as(admin), "m", registry.DeployTargetSpec{Kind: registry.TargetWebhook, URL: u, Secret: []byte("secret-0123456789abc")})
			if allow && err != nil {
				t.Errorf("allowed: %s refused: %v", u, err)
			}
			if !allow && (!registry.IsCode(err, registry.Invalid) || !strings.Contains(err.Error(), "allow-private-webhooks")) {
				t.Errorf("%s: %v, want Invalid naming --allow-private-webhooks", u, err)
			}
		}
	}
}
