package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/registry"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the builder's output")

// fixtures are one notification of every kind, as shared/notify builds
// them.
func fixtures() map[string]registry.Notification {
	at := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
	exp := at.Add(72 * time.Hour)
	metrics := []registry.MetricDelta{
		{Name: "accuracy", Value: 0.95, HasBaseline: true, Baseline: 0.91, HigherIsBetter: true},
		{Name: "loss", Value: 0.22, HasBaseline: true, Baseline: 0.3, HigherIsBetter: false},
		{Name: "auc", Value: 0.97, HigherIsBetter: true},
	}
	approve := []string{"modelreg approvals approve 01M8T0YSZMKDSQF8NRRST57M0Z",
		"modelreg approvals reject 01M8T0YSZMKDSQF8NRRST57M0Z"}
	ev := func(id, typ string) registry.Event {
		return registry.Event{ID: id, Type: typ, Source: registry.EventSource, Time: at}
	}
	url := "https://registry.example.com/approvals/01M8T0YSZMKDSQF8NRRST57M0Z"
	return map[string]registry.Notification{
		"approval_requested": {
			Kind: registry.NotifyApprovalRequested, Audience: registry.AudienceApprovers, Recipients: []string{"group:ml-leads", "anna"},
			Subject: "[modelreg] fraud_model v2 → Production: approval requested by pat",
			Event:   ev("01M8T0YSZMKDSQF8NRRST57M10", registry.EventApprovalRequested),
			Model:   "fraud_model", Version: 2, From: registry.StageStaging, To: registry.StageProduction,
			Requester: "pat", Reason: "beats v1 on accuracy\nsee <!channel> run 42 & friends", ApprovalID: "01M8T0YSZMKDSQF8NRRST57M0Z",
			ExpiresAt: exp, Metrics: metrics, BaselineVersion: 1, PreviousVersion: 1, Commands: approve, URL: url,
		},
		"approval_reminder": {
			Kind: registry.NotifyApprovalReminder, Audience: registry.AudienceApprovers,
			Subject: "[modelreg] reminder: fraud_model v2 → Production expires in 1 hour",
			Event:   registry.Event{Time: exp.Add(-time.Hour)},
			Model:   "fraud_model", Version: 2, From: registry.StageStaging, To: registry.StageProduction,
			Requester: "pat", Reason: "beats v1 on accuracy", ApprovalID: "01M8T0YSZMKDSQF8NRRST57M0Z",
			ExpiresAt: exp, Metrics: metrics, BaselineVersion: 1, Commands: approve,
		},
		"approval_decided": {
			Kind: registry.NotifyApprovalDecided, Audience: registry.AudienceRequester, Recipients: []string{"pat"},
			Subject: "[modelreg] fraud_model v2 → Production: rejected by anna",
			Event:   ev("01M8T0YSZMKDSQF8NRRST57M11", registry.EventApprovalDecided),
			Model:   "fraud_model", Version: 2, From: registry.StageStaging, To: registry.StageProduction,
			Requester: "pat", Actor: "anna", Status: "REJECTED", Reason: "beats v1 on accuracy",
			Comment: "latency *doubled* on the canary", ApprovalID: "01M8T0YSZMKDSQF8NRRST57M0Z", URL: url,
		},
		"promoted": {
			Kind: registry.NotifyPromoted, Audience: registry.AudienceTeam,
			Subject: "[modelreg] fraud_model v2 is in Production (approved by anna)",
			Event:   ev("01M8T0YSZMKDSQF8NRRST57M12", registry.EventStageChanged),
			Model:   "fraud_model", Version: 2, From: registry.StageStaging, To: registry.StageProduction, PreviousVersion: 1,
			Requester: "pat", Actor: "anna", Reason: "beats v1 on accuracy", ApprovalID: "01M8T0YSZMKDSQF8NRRST57M0Z",
			Metrics: metrics, BaselineVersion: 1, URL: url,
		},
		"rolled_back": {
			Kind: registry.NotifyRolledBack, Audience: registry.AudienceTeam,
			Subject: "[modelreg] fraud_model rolled back to v1 by anna",
			Event:   ev("01M8T0YSZMKDSQF8NRRST57M13", registry.EventStageChanged),
			Model:   "fraud_model", Version: 1, From: registry.StageArchived, To: registry.StageProduction, PreviousVersion: 2,
			Actor: "anna", Reason: "latency regression", Metrics: []registry.MetricDelta{
				{Name: "accuracy", Value: 0.91, HasBaseline: true, Baseline: 0.95, HigherIsBetter: true},
				{Name: "loss", Value: 0.3, HasBaseline: true, Baseline: 0.3, HigherIsBetter: false},
			}, BaselineVersion: 2,
		},
		"deployment_failed": {
			Kind: registry.NotifyDeploymentFailed, Audience: registry.AudienceTeam,
			Subject: "[modelreg] fraud_model v2: deployment to dt-7 (sagemaker) failed",
			Event:   ev("01M8T0YSZMKDSQF8NRRST57M14", registry.EventDeploymentFailed),
			Model:   "fraud_model", Version: 2, PreviousVersion: 1, Status: "FAILED", TargetID: "dt-7", TargetKind: "sagemaker",
			DeploymentID: "dp-0011", Reason: "UpdateEndpoint: ValidationException: Could not find model data",
			Commands: []string{"modelreg deployments fraud_model", "modelreg deployments fraud_model redeliver dp-0011"},
		},
	}
}

// TestBuildGolden: the payload of every kind is exactly testdata/KIND.json
// (go test ./shared/slack -update rewrites them after a deliberate change).
func TestBuildGolden(t *testing.T) {
	for name, n := range fixtures() {
		t.Run(name, func(t *testing.T) {
			raw, err := Build(n).JSON()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			got := append(buf.Bytes(), '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("payload differs from %s:\n%s", path, got)
			}
		})
	}
}

// TestBuildContent checks what the golden files must say, so that an
// -update cannot bless a message that lost it.
func TestBuildContent(t *testing.T) {
	fx := fixtures()
	for name, wants := range map[string][]string{
		"approval_requested": {"fraud_model", "Staging → Production", "pat", "beats v1 on accuracy",
			"`accuracy` 0.95 (v1: 0.91, +0.04 better)", "`loss` 0.22 (v1: 0.3, -0.08 better)", "`auc` 0.97",
			"modelreg approvals approve 01M8T0YSZMKDSQF8NRRST57M0Z", "modelreg approvals reject 01M8T0YSZMKDSQF8NRRST57M0Z",
			`"url":"https://registry.example.com/approvals/01M8T0YSZMKDSQF8NRRST57M0Z"`, "group:ml-leads, anna",
			"&lt;!channel&gt;", "&amp; friends", "2026-12-05 09:30 UTC"},
		"approval_reminder": {"expires in 1 hour", "modelreg approvals approve"},
		"approval_decided":  {"rejected", "anna", "latency *doubled* on the canary", "pat"},
		"promoted":          {"v2 is in Production", "Replaces", "version 1", "Approved by", "anna"},
		"rolled_back":       {"rolled back to v1", "Rolled back from", "version 2", "latency regression", "-0.04 worse", "same"},
		"deployment_failed": {"Deployment failed", "dt-7 (sagemaker)", "Could not find model data", "redeliver dp-0011"},
	} {
		b, _ := Build(fx[name]).JSON()
		s := string(b)
		for _, w := range wants {
			if !strings.Contains(s, w) {
				t.Errorf("%s: payload lacks %q:\n%s", name, w, s)
			}
		}
		if strings.Contains(s, "<!channel>") {
			t.Errorf("%s: user text pings the channel", name)
		}
	}
	if b, _ := Build(fx["approval_decided"]).JSON(); !strings.Contains(string(b), `"actions"`) {
		t.Errorf("decided with a URL has no button")
	}
	if b, _ := Build(fx["rolled_back"]).JSON(); strings.Contains(string(b), `"actions"`) {
		t.Errorf("a notification without URL has a button")
	}
}

// TestBuildLimits: whatever the input, the message stays inside Block
// Kit's limits (a header of 150 characters, 10 fields, sections of 3000).
func TestBuildLimits(t *testing.T) {
	n := fixtures()["approval_requested"]
	n.Model = strings.Repeat("m", 128)
	n.Reason = strings.Repeat("é", 5000)
	n.Requester = strings.Repeat("r", 3000)
	n.TargetID, n.TargetKind, n.Status, n.Actor = "dt-1", "webhook", "PENDING", "x"
	for i := range 40 {
		n.Metrics = append(n.Metrics, registry.MetricDelta{Name: strings.Repeat("k", 200) + string(rune('a'+i%26)), Value: float64(i)})
	}
	m := Build(n)
	for _, b := range m.Blocks {
		if b.Type == "header" && utf8.RuneCountInString(b.Text.Text) > maxHeader {
			t.Errorf("header of %d characters", utf8.RuneCountInString(b.Text.Text))
		}
		if len(b.Fields) > maxFields {
			t.Errorf("%d fields", len(b.Fields))
		}
		for _, f := range b.Fields {
			if utf8.RuneCountInString(f.Text) > maxField {
				t.Errorf("field of %d characters", utf8.RuneCountInString(f.Text))
			}
		}
		if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > maxSection {
			t.Errorf("%s text of %d characters", b.Type, utf8.RuneCountInString(b.Text.Text))
		}
	}
	if len(m.Blocks) > 50 {
		t.Errorf("%d blocks, Slack takes 50", len(m.Blocks))
	}
}
