package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sfn"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/workflowtest"
)

var (
	secret = bytes.Repeat([]byte("k"), 32)
	t0     = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	quiet  = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
)

// localConfig is an all-embedded Config on dir.
func localConfig(dir string) app.Config {
	return app.Config{
		Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem, Events: app.EventsLocal,
		DataDir: dir, PublicURL: "http://127.0.0.1:1", Secret: secret, Logger: quiet,
	}
}

// fakeAWS is an AWS configuration that needs no credential chain.
func fakeAWS() *aws.Config {
	return &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
}

func admin(ctx context.Context) context.Context {
	return registry.WithPrincipal(ctx, registry.Principal{Name: "adam", Role: registry.RoleAdmin})
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestConfigRefused: each Config that cannot work is a *ConfigError naming
// its setting. What is refused by the settings alone opens nothing; what
// fails later closes what it opened.
func TestConfigRefused(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*app.Config)
		setting string
		opens   bool // refused after opening the embedded backends
	}{
		{"no store", func(c *app.Config) { c.Store = "" }, "Store", false},
		{"unknown store", func(c *app.Config) { c.Store = "postgres" }, "Store", false},
		{"unknown artifacts", func(c *app.Config) { c.Artifacts = "gcs" }, "Artifacts", false},
		{"unknown workflow", func(c *app.Config) { c.Workflow = "temporal" }, "Workflow", false},
		{"unknown events", func(c *app.Config) { c.Events = "kafka" }, "Events", false},
		{"local engine without handlers", func(c *app.Config) { c.Workflow = app.WorkflowLocal }, "Handlers", false},
		{"sqlite without the embedded backends", func(c *app.Config) { c.Embedded = nil }, "Embedded", false},
		{"filesystem without the embedded backends", func(c *app.Config) {
			c.Embedded, c.Store, c.AWS.DynamoDBTable = nil, app.StoreDynamoDB, "t"
		}, "Embedded", false},
		{"no data dir", func(c *app.Config) { c.DataDir = "" }, "DataDir", false},
		{"no public URL", func(c *app.Config) { c.PublicURL = "" }, "PublicURL", false},
		{"short secret", func(c *app.Config) { c.Secret = secret[:31] }, "Secret", false},
		{"dynamodb without a table", func(c *app.Config) { c.Store = app.StoreDynamoDB }, "AWS.DynamoDBTable", false},
		{"s3 without a bucket", func(c *app.Config) { c.Artifacts = app.ArtifactsS3 }, "AWS.S3Bucket", false},
		{"sfn without a state machine", func(c *app.Config) { c.Workflow = app.WorkflowSFN }, "AWS.StateMachineARN", false},
		{"eventbridge events without a bus", func(c *app.Config) { c.Events = app.EventsEventBridge }, "AWS.EventBus", false},
		{"file sources off the embedded backends", func(c *app.Config) {
			c.Service.AllowFileSources, c.Artifacts, c.AWS.S3Bucket, c.AWS.Config = true, app.ArtifactsS3, "b", fakeAWS()
		}, "Service.AllowFileSources", false},
		{"sfn with a malformed state machine", func(c *app.Config) {
			c.Workflow, c.AWS.StateMachineARN, c.AWS.Config = app.WorkflowSFN, "promotion", fakeAWS()
		}, "AWS.StateMachineARN", true},
		{"handlers returning nil", func(c *app.Config) {
			c.Workflow = app.WorkflowLocal
			c.Handlers = func(*registry.Service) workflow.Handlers { return nil }
		}, "Handlers", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &orderLog{}
			cfg := localConfig(t.TempDir())
			cfg.Embedded = recordingBackends{log: log}
			tc.edit(&cfg)
			a, err := app.New(context.Background(), cfg)
			var ce *app.ConfigError
			if !errors.As(err, &ce) || ce.Setting != tc.setting {
				if a != nil {
					a.Close()
				}
				t.Fatalf("New = %v, want a ConfigError on %s", err, tc.setting)
			}
			want := []string{}
			if tc.opens {
				want = []string{"store opened", "artifacts opened", "artifacts closed", "store closed"}
			}
			if got := log.get(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("backends %v, want %v", got, want)
			}
		})
	}
}

// TestEmbeddedApp: the embedded app serves the registry on SQLite and the
// filesystem, delivers the outbox to its bus once started (the caller's
// AfterCommit still runs), serves the signed blob URLs and allows file
// sources; the events survive a restart when the app closed first.
func TestEmbeddedApp(t *testing.T) {
	ctx := admin(context.Background())
	dir := t.TempDir()
	cfg := localConfig(dir)
	var afterCommits int
	var mu sync.Mutex
	cfg.Service.AfterCommit = func() { mu.Lock(); afterCommits++; mu.Unlock() }
	cfg.Service.AllowFileSources = true
	a, err := embedded.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.Workflow != nil || a.Engine != nil || a.Blobs == nil {
		t.Fatalf("workflow %v engine %v blobs %v: want none, none, a handler", a.Workflow, a.Engine, a.Blobs)
	}
	var seen []string
	a.Bus.Subscribe("test", "", func(_ context.Context, e registry.Event) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, e.Type)
		return nil
	})
	// Before Start nothing delivers.
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
		t.Fatal(err)
	}
	v, err := a.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{Source: "file:///data/model.bin"})
	if err != nil {
		t.Fatalf("file source refused: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if len(seen) != 0 || afterCommits != 1 {
		t.Errorf("before Start: delivered %v, AfterCommit ran %d times; want nothing and 1", seen, afterCommits)
	}
	mu.Unlock()
	a.Relay.Interval = time.Hour // from now on only a commit's kick delivers
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err == nil {
		t.Error("a second Start was accepted")
	}
	registered := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			c := 0
			for _, typ := range seen {
				if typ == registry.EventVersionRegistered {
					c++
				}
			}
			return c == n
		}
	}
	eventually(t, "the outbox drained on Start", registered(1))
	if _, err := a.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{Source: "s3://models/fraud/2"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the relay kicked by the commit", registered(2))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := a.Start(ctx); err == nil {
		t.Error("Start after Close was accepted")
	}
	if _, err := a.Store.GetVersion(ctx, "fraud", v.Number); err == nil {
		t.Error("the store still answers after Close")
	}

	// Reopened: the same data.
	b, err := embedded.New(ctx, localConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Service.GetVersion(ctx, "fraud", v.Number); err != nil || got.Lineage.SourceURI != "file:///data/model.bin" {
		t.Fatalf("after reopening: %+v %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "registry.db")); err != nil {
		t.Errorf("no DATA-DIR/registry.db: %v", err)
	}
}

// TestLocalEngine: with WorkflowLocal the service starts promotions on the
// local engine, which calls the handlers Config.Handlers made for this very
// service. After a restart Start recovers the waiting execution (its
// handler is invoked again with the same token), and the periodic sweep
// ends the wait once the injected clock passes its timeout.
func TestLocalEngine(t *testing.T) {
	ctx := admin(context.Background())
	dir := t.TempDir()
	clk := workflowtest.NewClock(t0)
	open := func(rec *workflowtest.Recorder, sweep time.Duration) *app.App {
		t.Helper()
		cfg := localConfig(dir)
		cfg.Workflow, cfg.Now, cfg.SweepInterval = app.WorkflowLocal, clk.Now, sweep
		var got *registry.Service
		cfg.Handlers = func(s *registry.Service) workflow.Handlers { got = s; return rec }
		a, err := embedded.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || got != a.Service || a.Handlers != rec || a.Engine == nil || a.Workflow != a.Engine {
			t.Fatalf("handlers made for %p, service %p; handlers %v engine %v workflow %v", got, a.Service, a.Handlers, a.Engine, a.Workflow)
		}
		return a
	}

	rec1 := &workflowtest.Recorder{Validation: workflow.ValidateOutput{Passed: true}}
	a := open(rec1, time.Hour) // no sweep in this life
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	approval := registry.Approval{ID: "apr-1", Model: "fraud", Version: 2, TargetStage: registry.StageProduction,
		RequestedBy: "paul", ExpiresAt: t0.Add(time.Hour)}
	if _, err := a.Workflow.StartPromotion(ctx, approval); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the approval request", func() bool { return rec1.LastToken() != "" })
	token := rec1.LastToken()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	rec2 := &workflowtest.Recorder{Validation: workflow.ValidateOutput{Passed: true}}
	b := open(rec2, 10*time.Millisecond)
	defer b.Close()
	if _, requests, _, _ := rec2.Counts(); requests != 0 {
		t.Fatalf("RequestApproval ran %d times before Start", requests)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the recovered approval request", func() bool { return rec2.LastToken() != "" })
	if got := rec2.LastToken(); got != token {
		t.Errorf("recovered with token %q, want the stored %q", got, token)
	}
	validates, _, _, outcomes := rec2.Counts()
	if validates != 0 || outcomes != 0 {
		t.Fatalf("after recovery Validate ran %d times, RecordOutcome %d; want 0 and 0", validates, outcomes)
	}
	time.Sleep(50 * time.Millisecond) // sweeps run, the clock has not moved
	if _, _, _, outcomes := rec2.Counts(); outcomes != 0 {
		t.Fatal("the wait ended before its timeout")
	}
	clk.Add(time.Hour + time.Second)
	eventually(t, "the sweep to expire the approval", func() bool { _, _, _, o := rec2.Counts(); return o == 1 })
	if o := rec2.Outcomes[0]; o.ApprovalID != "apr-1" || o.Outcome != workflow.OutcomeExpired {
		t.Errorf("outcome %+v, want apr-1 EXPIRED", o)
	}
	ex, err := b.Engine.Wait(ctx, "apr-1")
	if err != nil || ex.Status != registry.ExecutionSucceeded || ex.State != "NotPromoted" {
		t.Errorf("execution %s in %s (%v), want SUCCEEDED in NotPromoted", ex.Status, ex.State, err)
	}
}

// blockingHandlers block in Validate until their context ends, then note
// when they returned.
type blockingHandlers struct {
	workflowtest.Recorder
	entered chan struct{}
	log     *orderLog
}

func (h *blockingHandlers) Validate(ctx context.Context, in workflow.ValidateInput) (workflow.ValidateOutput, error) {
	close(h.entered)
	<-ctx.Done()
	time.Sleep(20 * time.Millisecond)
	h.log.add("handler returned")
	return workflow.ValidateOutput{}, ctx.Err()
}

type orderLog struct {
	mu sync.Mutex
	l  []string
}

func (o *orderLog) add(s string) { o.mu.Lock(); o.l = append(o.l, s); o.mu.Unlock() }
func (o *orderLog) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.l)
}

// recordingBackends are the embedded backends noting when they close.
type recordingBackends struct {
	embedded.Backends
	log *orderLog
}

func (r recordingBackends) OpenStore(ctx context.Context, path string) (registry.Store, func() error, error) {
	st, closeStore, err := r.Backends.OpenStore(ctx, path)
	r.log.add("store opened")
	return st, func() error { r.log.add("store closed"); return closeStore() }, err
}

func (r recordingBackends) OpenArtifacts(dir, baseURL string, key []byte) (registry.Artifacts, http.Handler, func() error, error) {
	arts, blobs, closeArts, err := r.Backends.OpenArtifacts(dir, baseURL, key)
	r.log.add("artifacts opened")
	return arts, blobs, func() error { r.log.add("artifacts closed"); return closeArts() }, err
}

// TestCloseOrder: Close stops the engine's running task before it closes
// the adapters, and closes them last opened first.
func TestCloseOrder(t *testing.T) {
	ctx := admin(context.Background())
	log := &orderLog{}
	h := &blockingHandlers{entered: make(chan struct{}), log: log}
	cfg := localConfig(t.TempDir())
	cfg.Embedded = recordingBackends{log: log}
	cfg.Workflow, cfg.Handlers = app.WorkflowLocal, func(*registry.Service) workflow.Handlers { return h }
	a, err := app.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Workflow.StartPromotion(ctx, registry.Approval{ID: "apr-1", Model: "fraud", Version: 1, TargetStage: registry.StageProduction}); err != nil {
		t.Fatal(err)
	}
	<-h.entered
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := log.get(), []string{"store opened", "artifacts opened", "handler returned", "artifacts closed", "store closed"}; !slices.Equal(got, want) {
		t.Errorf("close order %v, want %v", got, want)
	}
}

// TestSFNWorkflow: WorkflowSFN runs promotions on the state machine (no
// local engine, nothing to sweep), with the AWS configuration given.
func TestSFNWorkflow(t *testing.T) {
	cfg := localConfig(t.TempDir())
	cfg.Embedded = embedded.Backends{}
	cfg.Workflow = app.WorkflowSFN
	cfg.AWS.Config = fakeAWS()
	cfg.AWS.StateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:promotion"
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, ok := a.Workflow.(*sfn.Workflow); !ok || a.Engine != nil {
		t.Fatalf("workflow %T engine %v, want *sfn.Workflow and none", a.Workflow, a.Engine)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}
