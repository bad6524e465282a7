package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// TestSNSEmail: with Notify.SNSTopicARN the app's email channel publishes
// to that topic at Notify.SNSEndpoint (here a fake SNS answering the
// query protocol), signed for the configured region.
func TestSNSEmail(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:123456789012:modelreg-email"
	var mu sync.Mutex
	var got []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q, err := url.ParseQuery(string(body))
		if err != nil || r.Method != http.MethodPost || !strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/sns/aws4_request") {
			t.Errorf("request %s %s (auth %q): %s", r.Method, r.URL, r.Header.Get("Authorization"), body)
		}
		mu.Lock()
		got = append(got, q)
		mu.Unlock()
		io.WriteString(w, `<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>`)
	}))
	defer srv.Close()

	cfg := localConfig(t.TempDir())
	cfg.Embedded = embedded.Backends{}
	cfg.Workflow, cfg.Handlers = app.WorkflowLocal, workflow.ServiceHandlers
	aws := fakeAWS()
	aws.Region = "eu-west-1"
	cfg.AWS.Config = aws
	cfg.Notify = app.Notify{SNSTopicARN: topic, SNSEndpoint: srv.URL}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pat := registry.WithPrincipal(context.Background(), registry.Principal{Name: "pat", Role: registry.RolePublisher})
	if _, err := a.Service.CreateModel(admin(context.Background()), registry.NewModel{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	v, err := a.Service.RegisterVersion(pat, "m", registry.NewVersion{Source: "s3://b/m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.Transition(pat, "m", v.Number, registry.StageStaging, "candidate"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.Transition(pat, "m", v.Number, registry.StageProduction, "ready"); err != nil {
		t.Fatal(err)
	}
	var req url.Values
	eventually(t, "the approval request's email", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, q := range got {
			if q.Get("MessageAttributes.entry.2.Value.StringValue") == string(registry.NotifyApprovalRequested) {
				req = q
				return true
			}
		}
		return false
	})
	if req.Get("Action") != "Publish" || req.Get("Version") != "2010-03-31" || req.Get("TopicArn") != topic ||
		!strings.Contains(req.Get("Subject"), "m v1") || req.Get("Message") == "" || req.Get("MessageAttributes.entry.3.Value.StringValue") != "m" {
		t.Errorf("Publish %v", req)
	}
}
