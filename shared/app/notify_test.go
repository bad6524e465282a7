package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/slack"
	"github.com/modelreg/modelreg/shared/workflow"
)

// slackReceiver is an incoming webhook that misbehaves for its first
// requests (hangs, or answers 500) and then accepts, keeping the headers
// of the messages it accepted.
type slackReceiver struct {
	mu       sync.Mutex
	bad      []string // "hang" or "500", one per request, in order
	accepted []string
	release  chan struct{}
	srv      *httptest.Server
}

func newSlackReceiver(t *testing.T, bad ...string) *slackReceiver {
	r := &slackReceiver{bad: bad, release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		var mode string
		if len(r.bad) > 0 {
			mode, r.bad = r.bad[0], r.bad[1:]
		}
		r.mu.Unlock()
		switch mode {
		case "hang":
			select {
			case <-r.release:
			case <-req.Context().Done():
			}
			return
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var m slack.Message
		if err := json.Unmarshal(body, &m); err != nil || len(m.Blocks) == 0 {
			t.Errorf("not a Block Kit message: %s", body)
		}
		r.mu.Lock()
		r.accepted = append(r.accepted, m.Blocks[0].Text.Text)
		r.mu.Unlock()
	}))
	t.Cleanup(func() { close(r.release); r.srv.Close() })
	return r
}

func (r *slackReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...)
}

// TestSlowNotifierNeverBlocksPromotion: with a Slack webhook that hangs
// or fails, a request and a promotion complete at once and stay done; the
// notifications arrive later, from the outbox's retries, each once.
func TestSlowNotifierNeverBlocksPromotion(t *testing.T) {
	// The request's message fails twice, the promotion's once.
	for _, bad := range [][]string{{"hang", "hang", "hang"}, {"500", "500", "500"}} {
		t.Run(bad[0], func(t *testing.T) {
			recv := newSlackReceiver(t, bad...)
			cfg := localConfig(t.TempDir())
			cfg.Embedded = embedded.Backends{}
			cfg.Workflow, cfg.Handlers = app.WorkflowLocal, workflow.ServiceHandlers
			// A clock that the test moves ahead while it waits, so that the
			// outbox's backoff (1 s, 2 s, 4 s…) passes quickly.
			var skewMu sync.Mutex
			var skew time.Duration
			cfg.Now = func() time.Time { skewMu.Lock(); defer skewMu.Unlock(); return time.Now().Add(skew) }
			hurry := func() { skewMu.Lock(); skew += 200 * time.Millisecond; skewMu.Unlock() }
			cfg.Notify = app.Notify{SlackWebhookURL: recv.srv.URL, ConsoleURL: "http://console.example",
				SlackOptions: []slack.Option{slack.WithAttempts(1), slack.WithAttemptTimeout(300 * time.Millisecond)}}
			a, err := app.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			svc := a.Service
			pat := registry.WithPrincipal(context.Background(), registry.Principal{Name: "pat", Role: registry.RolePublisher})
			anna := registry.WithPrincipal(context.Background(), registry.Principal{Name: "anna", Role: registry.RoleApprover})
			if _, err := svc.CreateModel(admin(context.Background()), registry.NewModel{Name: "m"}); err != nil {
				t.Fatal(err)
			}
			v, err := svc.RegisterVersion(pat, "m", registry.NewVersion{Source: "s3://b/m",
				Metrics: map[string]registry.Metric{"accuracy": {Value: 0.9, Source: registry.SourceValidation}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Transition(pat, "m", v.Number, registry.StageStaging, "candidate"); err != nil {
				t.Fatal(err)
			}
			r, err := svc.Transition(pat, "m", v.Number, registry.StageProduction, "ready")
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the approval waits for a decision", func() bool {
				ex, err := a.Store.GetExecution(context.Background(), r.Approval.ID)
				return err == nil && ex.TaskToken != ""
			})
			eventually(t, "the request's message, retried", func() bool { hurry(); return len(recv.got()) == 1 })
			start := time.Now()
			if _, err := svc.DecideApproval(anna, r.Approval.ID, true, "go"); err != nil {
				t.Fatalf("the decision waited on, or failed with, the notifier: %v", err)
			}
			eventually(t, "the promotion", func() bool {
				m, err := svc.GetModel(context.Background(), "m")
				return err == nil && m.ProductionVersion == v.Number
			})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the promotion took %s", d)
			}
			want := []string{":raised_hand: Approval requested: m v1 → Production", ":rocket: m v1 is in Production",
				":white_check_mark: m v1 → Production: approved"}
			eventually(t, "the notifications, retried", func() bool { hurry(); return len(recv.got()) >= len(want) })
			for range 20 { // a duplicate would come from a later retry
				hurry()
				time.Sleep(50 * time.Millisecond)
			}
			got := recv.got()
			slices.Sort(got) // retries reorder them
			slices.Sort(want)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("slack got %q, want %q", got, want)
			}
			m, _ := svc.GetModel(context.Background(), "m")
			ap, _ := svc.GetApproval(context.Background(), r.Approval.ID)
			if m.ProductionVersion != v.Number || ap.Status != registry.ApprovalApproved {
				t.Errorf("after the notifier failed: production %d, approval %s", m.ProductionVersion, ap.Status)
			}
		})
	}
}

// TestNotifyConfigRefused: a Slack URL or SNS topic that cannot work is a
// ConfigError naming the setting.
func TestNotifyConfigRefused(t *testing.T) {
	for setting, n := range map[string]app.Notify{
		"Notify.SlackWebhookURL": {SlackWebhookURL: "hooks.slack.com/services/T/B/X"},
		"Notify.SNSTopicARN":     {SNSTopicARN: "my-topic"},
	} {
		cfg := localConfig(t.TempDir())
		cfg.Embedded = embedded.Backends{}
		cfg.Notify = n
		cfg.AWS.Config = fakeAWS()
		a, err := app.New(context.Background(), cfg)
		var ce *app.ConfigError
		if !errors.As(err, &ce) || ce.Setting != setting {
			if a != nil {
				a.Close()
			}
			t.Errorf("%+v: %v, want a ConfigError on %s", n, err, setting)
		}
	}
}
