package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/notify"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/workflowtest"
)

var (
	t0    = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
)

// memProcessed is a processed-event store in memory (the service's, on
// both stores, is tested with them); fail makes its calls fail.
type memProcessed struct {
	mu    sync.Mutex
	done  map[string]time.Duration // consumer\x00id → ttl
	fail  error
	marks int
}

func newProcessed() *memProcessed { return &memProcessed{done: map[string]time.Duration{}} }

func (p *memProcessed) EventProcessed(_ context.Context, consumer, id string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return false, p.fail
	}
	_, ok := p.done[consumer+"\x00"+id]
	return ok, nil
}

func (p *memProcessed) MarkEventProcessed(_ context.Context, consumer, id string, ttl time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.done[consumer+"\x00"+id] = ttl
	p.marks++
	return nil
}

func (p *memProcessed) has(consumer, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.done[consumer+"\x00"+id]
	return ok
}

// recorder is a channel that keeps what it is sent; failures are the
// errors its next calls return.
type recorder struct {
	mu       sync.Mutex
	got      []registry.Notification
	failures []error
}

func (r *recorder) Notify(_ context.Context, n registry.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) > 0 {
		err := r.failures[0]
		r.failures = r.failures[1:]
		return err
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) sent() []registry.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

type permanent struct{}

func (permanent) Error() string   { return "HTTP 404 no_service" }
func (permanent) Permanent() bool { return true }

// env is a registry with the local promotion workflow on an injected
// clock, whose events stay in the outbox for the test to hand over.
type env struct {
	t      *testing.T
	app    *app.App
	svc    *registry.Service
	clock  *workflowtest.Clock
	c      *notify.Consumer
	proc   *memProcessed
	log    *recorder
	slack  *recorder
	offset int // events handed over so far
}

func newEnv(t *testing.T) *env { return newEnvTTL(t, 0) }

// newEnvTTL is newEnv with approvals that expire after ttl (0: the default).
func newEnvTTL(t *testing.T, ttl time.Duration) *env {
	t.Helper()
	clock := workflowtest.NewClock(t0)
	a := openApp(t, t.TempDir(), clock, ttl)
	e := &env{t: t, app: a, svc: a.Service, clock: clock, proc: newProcessed(), log: &recorder{}, slack: &recorder{}}
	var err error
	e.c, err = notify.New(notify.Config{Registry: a.Service, Processed: e.proc,
		Channels:   []notify.Channel{{Name: "log", Notifier: e.log}, {Name: "slack", Notifier: e.slack}},
		ConsoleURL: "https://registry.example.com/", Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// openApp opens the registry on dir (again, for a restart).
func openApp(t *testing.T, dir string, clock *workflowtest.Clock, ttl time.Duration) *app.App {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{
		Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem, Workflow: app.WorkflowLocal,
		DataDir: dir, PublicURL: "http://127.0.0.1:1", Secret: bytes.Repeat([]byte("k"), 32),
		Embedded: embedded.Backends{}, Handlers: workflow.ServiceHandlers, Now: clock.Now, Logger: quiet,
		Service: registry.Config{ApprovalTTL: ttl},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func as(name string, role registry.Role, groups ...string) context.Context {
	return registry.WithPrincipal(context.Background(), registry.Principal{Name: name, Role: role, Groups: groups})
}

var (
	adam = as("adam", registry.RoleAdmin)
	pat  = as("pat", registry.RolePublisher)
	anna = as("anna", registry.RoleApprover, "ml-leads")
)

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// model creates a model whose policy names its approvers and checks accuracy.
func (e *env) model(name string) {
	_, err := e.svc.CreateModel(adam, registry.NewModel{Name: name})
	e.must(err)
	_, err = e.svc.SetPolicy(adam, name, registry.Policy{Approvers: []string{"group:ml-leads", "anna"},
		Metrics: []registry.MetricRule{{Metric: "loss", Op: registry.OpLE, Value: 1}}})
	e.must(err)
}

// version registers a READY version with metrics and moves it to Staging.
func (e *env) version(model string, metrics map[string]float64) int {
	ms := map[string]registry.Metric{}
	for k, v := range metrics {
		ms[k] = registry.Metric{Value: v, Source: registry.SourceValidation}
	}
	v, err := e.svc.RegisterVersion(pat, model, registry.NewVersion{Metrics: ms, Source: "s3://bucket/" + model})
	e.must(err)
	_, err = e.svc.Transition(pat, model, v.Number, registry.StageStaging, "candidate")
	e.must(err)
	return v.Number
}

// request asks for Production as pat and returns the approval id.
func (e *env) request(model string, number int, reason string) string {
	r, err := e.svc.Transition(pat, model, number, registry.StageProduction, reason)
	e.must(err)
	if r.Approval == nil {
		e.t.Fatalf("transition to Production gave no approval")
	}
	e.waitState(r.Approval.ID, func(ex registry.Execution) bool { return ex.TaskToken != "" })
	return r.Approval.ID
}

// waitState waits until the approval's execution satisfies ok.
func (e *env) waitState(id string, ok func(registry.Execution) bool) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ex, err := e.app.Store.GetExecution(context.Background(), id); err == nil && ok(ex) {
			return
		}
	}
	e.t.Fatalf("execution %s did not get there", id)
}

// approve approves as anna and waits for the promotion.
func (e *env) approve(id, comment string) {
	_, err := e.svc.DecideApproval(anna, id, true, comment)
	e.must(err)
	e.waitState(id, func(ex registry.Execution) bool { return ex.Status != registry.ExecutionRunning })
}

// events returns the events committed since the last call, oldest first.
func (e *env) events() []registry.Event {
	recs, err := e.app.Store.PendingEvents(context.Background(), t0.Add(1000*time.Hour), 1000)
	e.must(err)
	var out []registry.Event
	for _, r := range recs[e.offset:] {
		out = append(out, r.Event)
	}
	e.offset = len(recs)
	return out
}

// handleAll hands evs to the consumer and returns what the slack channel got.
func (e *env) handleAll(evs []registry.Event) []registry.Notification {
	before := len(e.slack.sent())
	for _, ev := range evs {
		e.must(e.c.Handle(context.Background(), ev))
	}
	return e.slack.sent()[before:]
}

func kinds(ns []registry.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%s v%d", n.Kind, n.Version))
	}
	return out
}

// TestMessages: a promotion, a second one, a rollback and a rejection
// give exactly the messages people need, in order, with their facts;
// stage changes out of Production, to Staging and registrations give none.
func TestMessages(t *testing.T) {
	e := newEnv(t)
	e.model("fraud_model")
	v1 := e.version("fraud_model", map[string]float64{"accuracy": 0.91, "loss": 0.30})
	ap1 := e.request("fraud_model", v1, "first model")
	got := e.handleAll(e.events())
	e.approve(ap1, "ship it")
	got = append(got, e.handleAll(e.events())...)
	want := []string{"approval_requested v1", "promoted v1", "approval_decided v1"}
	if !slices.Equal(kinds(got), want) {
		t.Fatalf("first promotion: %v, want %v", kinds(got), want)
	}

	v2 := e.version("fraud_model", map[string]float64{"accuracy": 0.95, "loss": 0.22, "auc": 0.97})
	ap2 := e.request("fraud_model", v2, "beats v1 on accuracy")
	req := e.handleAll(e.events())
	if !slices.Equal(kinds(req), []string{"approval_requested v2"}) {
		t.Fatalf("request: %v", kinds(req))
	}
	n := req[0]
	if n.Audience != registry.AudienceApprovers || !slices.Equal(n.Recipients, []string{"group:ml-leads", "anna"}) ||
		n.Requester != "pat" || n.Reason != "beats v1 on accuracy" || n.From != registry.StageStaging || n.To != registry.StageProduction ||
		n.PreviousVersion != v1 || n.BaselineVersion != v1 || n.ApprovalID != ap2 || !n.ExpiresAt.Equal(t0.Add(registry.DefaultApprovalTTL)) {
		t.Errorf("request facts: %+v", n)
	}
	if want := []string{"modelreg approvals approve " + ap2, "modelreg approvals reject " + ap2}; !slices.Equal(n.Commands, want) {
		t.Errorf("commands %q, want %q", n.Commands, want)
	}
	if n.URL != "https://registry.example.com/approvals/"+ap2 {
		t.Errorf("URL %q", n.URL)
	}
	// The policy's metric first, then the others by name, each against v1.
	wantMetrics := []registry.MetricDelta{
		{Name: "loss", Value: 0.22, HasBaseline: true, Baseline: 0.30, HigherIsBetter: false},
		{Name: "accuracy", Value: 0.95, HasBaseline: true, Baseline: 0.91, HigherIsBetter: true},
		{Name: "auc", Value: 0.97, HigherIsBetter: true},
	}
	if !slices.Equal(n.Metrics, wantMetrics) {
		t.Errorf("metrics %+v, want %+v", n.Metrics, wantMetrics)
	}
	for _, s := range []string{"fraud_model version 2 is waiting for approval to go Staging → Production.",
		"Requested by:  pat", "Who decides:   group:ml-leads, anna", "loss 0.22 (was 0.3: better)", "accuracy 0.95 (was 0.91: better)",
		"  modelreg approvals approve " + ap2, "Open: https://registry.example.com/approvals/" + ap2, "Replaces:      version 1"} {
		if !strings.Contains(n.Text, s) {
			t.Errorf("text lacks %q:\n%s", s, n.Text)
		}
	}
	if n.Subject != "[modelreg] fraud_model v2 → Production: approval requested by pat" {
		t.Errorf("subject %q", n.Subject)
	}

	e.approve(ap2, "numbers hold up")
	got = e.handleAll(e.events())
	if !slices.Equal(kinds(got), []string{"promoted v2", "approval_decided v2"}) {
		t.Fatalf("approval: %v", kinds(got))
	}
	pro, dec := got[0], got[1]
	if dec.Audience != registry.AudienceRequester || !slices.Equal(dec.Recipients, []string{"pat"}) || dec.Status != "APPROVED" ||
		dec.Actor != "anna" || dec.Comment != "numbers hold up" || len(dec.Commands) != 0 ||
		dec.Subject != "[modelreg] fraud_model v2 → Production: approved by anna" {
		t.Errorf("decision: %+v", dec)
	}
	if pro.PreviousVersion != v1 || pro.Actor != "anna" || pro.Requester != "pat" || pro.Metrics[0].Baseline != 0.30 ||
		pro.Subject != "[modelreg] fraud_model v2 is in Production (approved by anna)" {
		t.Errorf("promotion: %+v", pro)
	}

	_, err := e.svc.Rollback(anna, "fraud_model", 0, "latency regression")
	e.must(err)
	got = e.handleAll(e.events())
	if !slices.Equal(kinds(got), []string{"rolled_back v1"}) {
		t.Fatalf("rollback: %v", kinds(got))
	}
	if rb := got[0]; rb.PreviousVersion != v2 || rb.BaselineVersion != v2 || rb.Reason != "latency regression" || rb.Actor != "anna" ||
		rb.Subject != "[modelreg] fraud_model rolled back to v1 by anna (from v2)" || rb.Metrics[1].Baseline != 0.95 {
		t.Errorf("rollback: %+v", rb)
	}

	// A request decided before its event is handled (the consumer was
	// down) tells the requester the decision, and the approvers nothing.
	v3 := e.version("fraud_model", map[string]float64{"accuracy": 0.5, "loss": 0.9})
	ap3 := e.request("fraud_model", v3, "try it")
	_, err = e.svc.DecideApproval(anna, ap3, false, "accuracy dropped")
	e.must(err)
	got = e.handleAll(e.events())
	if !slices.Equal(kinds(got), []string{"approval_decided v3"}) {
		t.Fatalf("rejection: %v", kinds(got))
	}
	if rej := got[0]; rej.Status != "REJECTED" || rej.Comment != "accuracy dropped" || !slices.Equal(rej.Recipients, []string{"pat"}) ||
		rej.Subject != "[modelreg] fraud_model v3 → Production: rejected by anna" || !strings.Contains(rej.Text, "Comment:\n  accuracy dropped") {
		t.Errorf("rejection: %+v", rej)
	}
	if len(e.log.sent()) != len(e.slack.sent()) {
		t.Errorf("log got %d, slack %d: every channel gets every message", len(e.log.sent()), len(e.slack.sent()))
	}
}

// TestDeploymentFailed: a failed deployment tells the team, with the
// commands that show and redeliver it.
func TestDeploymentFailed(t *testing.T) {
	e := newEnv(t)
	e.model("fraud_model")
	ev := registry.Event{ID: "01DEPLOYFAILED", Type: registry.EventDeploymentFailed, Source: registry.EventSource, Time: t0,
		Detail: registry.EventDetail{Model: "fraud_model", Version: 2, PreviousVersion: 1, TargetID: "dt-7", TargetKind: "sagemaker",
			DeploymentID: "dp-1", Reason: "UpdateEndpoint: ValidationException", Actor: "anna"}}
	got := e.handleAll([]registry.Event{ev})
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	n := got[0]
	if n.Kind != registry.NotifyDeploymentFailed || n.TargetID != "dt-7" || n.Reason != "UpdateEndpoint: ValidationException" ||
		!slices.Equal(n.Commands, []string{"modelreg deployments fraud_model", "modelreg deployments fraud_model redeliver dp-1"}) ||
		n.Subject != "[modelreg] fraud_model v2: deployment to dt-7 (sagemaker) failed" {
		t.Errorf("message %+v", n)
	}
	for _, typ := range []string{registry.EventDeploymentStarted, registry.EventDeploymentSucceeded, registry.EventVersionRegistered, registry.EventAliasChanged} {
		if notify.Wanted(registry.Event{Type: typ}) {
			t.Errorf("%s is wanted", typ)
		}
	}
}

// promotionEvent returns the "Approval Requested" event of a fresh request.
func promotionEvent(e *env) registry.Event {
	e.model("m")
	v := e.version("m", map[string]float64{"accuracy": 0.9, "loss": 0.2})
	e.request("m", v, "go")
	for _, ev := range e.events() {
		if ev.Type == registry.EventApprovalRequested {
			return ev
		}
	}
	e.t.Fatal("no Approval Requested event")
	return registry.Event{}
}

// TestIdempotent: the same event delivered twice, or after a restart of
// the consumer on the same records, is sent once per channel.
func TestIdempotent(t *testing.T) {
	e := newEnv(t)
	ev := promotionEvent(e)
	for range 3 {
		e.must(e.c.Handle(context.Background(), ev))
	}
	again, _ := notify.New(notify.Config{Registry: e.svc, Processed: e.proc,
		Channels: []notify.Channel{{Name: "log", Notifier: e.log}, {Name: "slack", Notifier: e.slack}}})
	e.must(again.Handle(context.Background(), ev))
	if len(e.log.sent()) != 1 || len(e.slack.sent()) != 1 {
		t.Errorf("log got %d, slack %d; want 1 each", len(e.log.sent()), len(e.slack.sent()))
	}
	for _, c := range []string{"notify", "notify:log", "notify:slack"} {
		if !e.proc.has(c, ev.ID) {
			t.Errorf("no %s record for the event", c)
		}
	}
}

// TestRestartOnStore: on the registry's own processed-event records
// (SQLite here; the records' contract suite runs on both stores), a
// channel that delivered before a restart is not sent the event again
// after it; the one that failed is, once.
func TestRestartOnStore(t *testing.T) {
	dir := t.TempDir()
	clock := workflowtest.NewClock(t0)
	a := openApp(t, dir, clock, 0)
	e := &env{t: t, app: a, svc: a.Service, clock: clock, proc: newProcessed(), log: &recorder{}, slack: &recorder{}}
	ev := promotionEvent(e)
	consumer := func(svc *registry.Service, log, slack *recorder) *notify.Consumer {
		c, err := notify.New(notify.Config{Registry: svc, Processed: svc, Now: clock.Now, Logger: slog.New(slog.DiscardHandler),
			Channels: []notify.Channel{{Name: "log", Notifier: log}, {Name: "slack", Notifier: slack}}})
		e.must(err)
		return c
	}
	log1, slack1 := &recorder{}, &recorder{failures: []error{errors.New("HTTP 503")}}
	if err := consumer(a.Service, log1, slack1).Handle(context.Background(), ev); err == nil {
		t.Fatal("Handle succeeded with slack failing")
	}
	a.Close()

	b := openApp(t, dir, clock, 0)
	log2, slack2 := &recorder{}, &recorder{}
	c := consumer(b.Service, log2, slack2)
	for range 2 {
		e.must(c.Handle(context.Background(), ev))
	}
	if len(log1.sent()) != 1 || len(log2.sent()) != 0 || len(slack2.sent()) != 1 {
		t.Errorf("log before/after the restart %d/%d, slack after %d; want 1/0, 1", len(log1.sent()), len(log2.sent()), len(slack2.sent()))
	}
	for _, name := range []string{"notify", "notify:log", "notify:slack"} {
		if ok, err := b.Service.EventProcessed(context.Background(), name, ev.ID); err != nil || !ok {
			t.Errorf("record %s: %v %v", name, ok, err)
		}
	}
}

// TestFailingChannelRetried: a channel that fails makes Handle fail (the
// outbox delivers again); the retry sends it to that channel only. While
// the failed channel cools down (1 s, then 2 s…) it is not tried at all,
// so a hanging receiver costs one timeout per cooldown, not per event.
func TestFailingChannelRetried(t *testing.T) {
	e := newEnv(t)
	ev := promotionEvent(e)
	e.slack.failures = []error{errors.New("HTTP 500"), errors.New("timeout")}
	for i, want := range []int{1, 1, 0} { // failures left after each attempt
		if err := e.c.Handle(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "notify:slack") {
			t.Fatalf("attempt %d: %v, want the slack channel's error", i+1, err)
		}
		if got := len(e.slack.failures); got != want {
			t.Fatalf("attempt %d: slack called %d times in all, want %d", i+1, 2-got, 2-want)
		}
		if i == 0 {
			// Within the cooldown: not even tried.
			continue
		}
		e.clock.Add(time.Second)
	}
	if e.proc.has("notify", ev.ID) || e.proc.has("notify:slack", ev.ID) || !e.proc.has("notify:log", ev.ID) {
		t.Errorf("records after failures: %v", e.proc.done)
	}
	err := e.c.Handle(context.Background(), ev)
	if !errors.Is(err, notify.ErrChannelDown) {
		t.Fatalf("within the second cooldown (2 s): %v, want ErrChannelDown", err)
	}
	e.clock.Add(2 * time.Second)
	e.must(e.c.Handle(context.Background(), ev))
	e.must(e.c.Handle(context.Background(), ev))
	if len(e.log.sent()) != 1 || len(e.slack.sent()) != 1 {
		t.Errorf("log got %d, slack %d; want 1 each", len(e.log.sent()), len(e.slack.sent()))
	}
}

// TestPermanentFailureNotRetried: a channel that refuses for good is
// logged and recorded, not retried forever.
func TestPermanentFailureNotRetried(t *testing.T) {
	e := newEnv(t)
	ev := promotionEvent(e)
	e.slack.failures = []error{fmt.Errorf("slack: %w", permanent{})}
	e.must(e.c.Handle(context.Background(), ev))
	e.must(e.c.Handle(context.Background(), ev))
	if len(e.slack.sent()) != 0 || len(e.log.sent()) != 1 || !e.proc.has("notify", ev.ID) {
		t.Errorf("slack %d, log %d, recorded %v", len(e.slack.sent()), len(e.log.sent()), e.proc.has("notify", ev.ID))
	}
}

// TestRecordsUnavailable: when the processed-event records cannot be
// read, nothing is sent and Handle fails (to be retried).
func TestRecordsUnavailable(t *testing.T) {
	e := newEnv(t)
	ev := promotionEvent(e)
	e.proc.fail = registry.Errorf(registry.Unavailable, "throttled")
	if err := e.c.Handle(context.Background(), ev); err == nil {
		t.Fatal("Handle succeeded without its records")
	}
	if len(e.log.sent())+len(e.slack.sent()) != 0 {
		t.Errorf("sent without knowing whether it was sent before")
	}
}

// TestReminders: a PENDING approval gets its 24-hour reminder once fewer
// than 24 hours are left and its 1-hour one once less than an hour is,
// each once; a late sweep sends only the latest; an approval requested
// inside a mark gets no reminder for it; a decided one none.
func TestReminders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.model("a")
	ap := e.request("a", e.version("a", map[string]float64{"accuracy": 0.9, "loss": 0.2}), "go") // expires t0+72h
	e.model("b")
	late := e.request("b", e.version("b", map[string]float64{"accuracy": 0.9, "loss": 0.2}), "go") // expires t0+72h
	e.model("decided")
	dec := e.request("decided", e.version("decided", map[string]float64{"accuracy": 0.9, "loss": 0.2}), "go")
	e.approve(dec, "")
	e.events()

	reminded := func() []string {
		var out []string
		for _, n := range e.slack.sent() {
			if n.Kind == registry.NotifyApprovalReminder {
				out = append(out, n.ApprovalID+" "+notify.Until(n.ExpiresAt, n.Event.Time))
			}
		}
		// Each sweep lists the approvals newest first: compare as sets.
		slices.Sort(out)
		return out
	}
	sweep := func(at time.Duration) {
		t.Helper()
		e.clock.Add(t0.Add(at).Sub(e.clock.Now()))
		e.must(e.c.Remind(ctx))
		e.must(e.c.Remind(ctx))
	}
	sweep(47 * time.Hour)
	if got := reminded(); len(got) != 0 {
		t.Fatalf("reminders 25 h before expiry: %v", got)
	}
	sweep(48*time.Hour + time.Minute)
	want := []string{ap + " 24 hours", late + " 24 hours"}
	slices.Sort(want)
	if got := reminded(); !slices.Equal(got, want) {
		t.Fatalf("at the 24-hour mark: %v, want %v", got, want)
	}
	sweep(60 * time.Hour)
	if got := reminded(); len(got) != 2 {
		t.Fatalf("12 h before expiry: %v", got)
	}
	sweep(71*time.Hour + time.Minute)
	want = append(want, ap+" 1 hour", late+" 1 hour")
	slices.Sort(want)
	if got := reminded(); !slices.Equal(got, want) {
		t.Fatalf("at the 1-hour mark: %v, want %v", got, want)
	}
	sweep(73 * time.Hour)
	if got := reminded(); len(got) != 4 {
		t.Fatalf("after expiry: %v", got)
	}
	for _, c := range []string{"reminder-24h", "reminder-1h", "reminder-24h:slack", "reminder-1h:log"} {
		if !e.proc.has(c, ap) {
			t.Errorf("no %s record for %s", c, ap)
		}
	}
	n := e.slack.sent()[len(e.slack.sent())-1]
	if n.Audience != registry.AudienceApprovers || n.Requester != "pat" || len(n.Commands) != 2 ||
		!strings.HasSuffix(n.Subject, " v1 → Production expires in 1 hour (requested by pat)") ||
		!strings.Contains(n.Text, "expires in 1 hour") {
		t.Errorf("reminder %+v", n)
	}
}

// TestRemindersLateAndShort: a first sweep after the 1-hour mark sends
// only the 1-hour reminder; an approval that lives 12 hours gets no
// 24-hour reminder (its request said when it expires), only the 1-hour one.
func TestRemindersLateAndShort(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.model("a")
	ap := e.request("a", e.version("a", map[string]float64{"accuracy": 0.9, "loss": 0.2}), "go")
	e.clock.Add(71*time.Hour + 30*time.Minute)
	e.must(e.c.Remind(ctx))
	got := e.slack.sent()
	if len(got) != 1 || got[0].ApprovalID != ap || notify.Until(got[0].ExpiresAt, got[0].Event.Time) != "less than an hour" ||
		e.proc.has("reminder-24h", ap) || !e.proc.has("reminder-1h", ap) {
		t.Errorf("late sweep: %v", kinds(got))
	}

	short := newEnvTTL(t, 12*time.Hour)
	short.model("s")
	sap := short.request("s", short.version("s", map[string]float64{"accuracy": 0.9, "loss": 0.2}), "go")
	for _, at := range []time.Duration{time.Minute, 6 * time.Hour, 11*time.Hour + 1*time.Minute} {
		short.clock.Add(t0.Add(at).Sub(short.clock.Now()))
		short.must(short.c.Remind(ctx))
	}
	got = short.slack.sent()
	if len(got) != 1 || got[0].ApprovalID != sap || notify.Until(got[0].ExpiresAt, got[0].Event.Time) != "1 hour" || short.proc.has("reminder-24h", sap) {
		t.Errorf("12-hour approval: %v", kinds(got))
	}
}

func TestUntil(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24 hours", 24*time.Hour - time.Minute: "24 hours", 23*time.Hour + 20*time.Minute: "23 hours",
		time.Hour: "1 hour", time.Hour - time.Minute: "1 hour", 50 * time.Minute: "less than an hour",
	} {
		if got := notify.Until(t0.Add(d), t0); got != want {
			t.Errorf("Until(+%s) = %q, want %q", d, got, want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	r := &recorder{}
	for name, cfg := range map[string]notify.Config{
		"no registry":   {Processed: newProcessed(), Channels: []notify.Channel{{Name: "log", Notifier: r}}},
		"no records":    {Registry: &registry.Service{}, Channels: []notify.Channel{{Name: "log", Notifier: r}}},
		"no channel":    {Registry: &registry.Service{}, Processed: newProcessed()},
		"same name":     {Registry: &registry.Service{}, Processed: newProcessed(), Channels: []notify.Channel{{Name: "log", Notifier: r}, {Name: "log", Notifier: r}}},
		"no notifier":   {Registry: &registry.Service{}, Processed: newProcessed(), Channels: []notify.Channel{{Name: "log"}}},
		"no named chan": {Registry: &registry.Service{}, Processed: newProcessed(), Channels: []notify.Channel{{Notifier: r}}},
	} {
		if _, err := notify.New(cfg); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
}

// TestHandleEventBridge: the function's input — a schedule tick runs the
// reminders; a modelreg event (deduplicated by detail.event_id, not
// EventBridge's id) is handled once; what is neither is dropped, not
// retried.
func TestHandleEventBridge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev := promotionEvent(e)
	detail, _ := json.Marshal(eventbridge.Detail{EventDetail: ev.Detail, EventID: ev.ID})
	for i := range 2 {
		// EventBridge gives each delivery its own id.
		in := events.EventBridgeEvent{ID: fmt.Sprintf("eb-%d", i), DetailType: ev.Type, Source: registry.EventSource, Time: ev.Time, Detail: detail}
		e.must(e.c.HandleEventBridge(ctx, in))
	}
	if got := kinds(e.slack.sent()); !slices.Equal(got, []string{"approval_requested v1"}) {
		t.Fatalf("after two deliveries: %v", got)
	}
	for _, bad := range []events.EventBridgeEvent{
		{ID: "x", DetailType: ev.Type, Source: "aws.s3", Detail: detail},
		{ID: "y", DetailType: ev.Type, Source: registry.EventSource, Detail: json.RawMessage(`{"model":"m"}`)},
		{ID: "z", DetailType: ev.Type, Source: registry.EventSource, Detail: json.RawMessage(`[]`)},
	} {
		if err := e.c.HandleEventBridge(ctx, bad); err != nil {
			t.Errorf("%s: %v, want it dropped", bad.ID, err)
		}
	}
	e.clock.Add(48*time.Hour + time.Minute)
	tick := events.EventBridgeEvent{ID: "tick", DetailType: notify.ScheduleDetailType, Source: notify.ScheduleSource, Time: e.clock.Now()}
	e.must(e.c.HandleEventBridge(ctx, tick))
	if got := kinds(e.slack.sent()); !slices.Equal(got, []string{"approval_requested v1", "approval_reminder v1"}) {
		t.Fatalf("after the tick: %v", got)
	}
}

// TestAutoApproval: under a policy that approves by itself nobody is
// asked; the team hears of the promotion and the requester of the
// policy's approval.
func TestAutoApproval(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.CreateModel(adam, registry.NewModel{Name: "auto"})
	e.must(err)
	_, err = e.svc.SetPolicy(adam, "auto", registry.Policy{Approval: registry.ApprovalAuto})
	e.must(err)
	v := e.version("auto", map[string]float64{"accuracy": 0.9})
	r, err := e.svc.Transition(pat, "auto", v, registry.StageProduction, "ship")
	e.must(err)
	e.waitState(r.Approval.ID, func(ex registry.Execution) bool { return ex.Status != registry.ExecutionRunning })
	got := e.handleAll(e.events())
	if !slices.Equal(kinds(got), []string{"promoted v1", "approval_decided v1"}) {
		t.Fatalf("auto approval: %v", kinds(got))
	}
	if got[1].Subject != "[modelreg] auto v1 → Production: approved by the model's policy" ||
		got[0].Subject != "[modelreg] auto v1 is in Production (approved by the model's policy)" {
		t.Errorf("subjects %q, %q", got[0].Subject, got[1].Subject)
	}
}
