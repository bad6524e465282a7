package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/notify"
)

// TestSampleEvents: every events/notify-*.json decodes, with no unknown
// field, into the function's input type (events.EventBridgeEvent); the
// schedule tick is recognised as one, and each modelreg event becomes the
// registry event the consumer tells people about, with the registry's
// event id.
func TestSampleEvents(t *testing.T) {
	files, _ := filepath.Glob("../../events/notify-*.json")
	if len(files) < 4 {
		t.Fatalf("found %d sample events, want the 4 kinds", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.EventBridgeEvent
			if err := lambdatest.DecodeStrict(raw, &ev); err != nil {
				t.Fatalf("decode into events.EventBridgeEvent: %v", err)
			}
			if ev.ID == "" || ev.Time.IsZero() || ev.AccountID == "" {
				t.Errorf("envelope incomplete: %+v", ev)
			}
			if strings.HasSuffix(f, "schedule.json") {
				if !notify.IsSchedule(ev) {
					t.Errorf("the schedule tick is not recognised: %+v", ev)
				}
				return
			}
			var d eventbridge.Detail
			if err := lambdatest.DecodeStrict(ev.Detail, &d); err != nil {
				t.Fatalf("detail: %v", err)
			}
			e, err := notify.FromEventBridge(ev)
			if err != nil {
				t.Fatal(err)
			}
			if e.ID != d.EventID || e.ID == ev.ID || e.Type != ev.DetailType || e.Detail.Model == "" || !notify.Wanted(e) {
				t.Errorf("registry event %+v from %+v", e, ev)
			}
		})
	}
}

// TestSetupNeedsSettings: without its settings the function says which
// is missing (a ConfigError naming it), having opened nothing; a secret
// shorter than 32 bytes is refused, and none at all is not needed.
func TestSetupNeedsSettings(t *testing.T) {
	for want, env := range map[string]map[string]string{
		"Secret":            {"MODELREG_SECRET": "short", "MODELREG_S3_BUCKET": "b", "MODELREG_DYNAMODB_TABLE": "t"},
		"AWS.DynamoDBTable": {"MODELREG_S3_BUCKET": "b"},
		"AWS.S3Bucket":      {"MODELREG_SECRET": strings.Repeat("s", 32), "MODELREG_DYNAMODB_TABLE": "t"},
	} {
		_, err := setup(t.Context(), func(k string) string { return env[k] }, nil)
		var ce *app.ConfigError
		if !errors.As(err, &ce) || ce.Setting != want {
			t.Errorf("setup with %v: %v, want a ConfigError on %s", env, err, want)
		}
	}
}

// TestLinksNoEmbeddedBackend: the function links the DynamoDB adapter,
// the notifiers and aws-lambda-go, and neither SQLite nor the filesystem
// adapter.
func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinks(t, "github.com/modelreg/modelreg/shared/dynamodb", "github.com/modelreg/modelreg/shared/slack", "github.com/modelreg/modelreg/shared/sns")
}

// TestSlackURLFromSecret: a secret that holds no URL yet (the stack's
// placeholder) turns Slack off instead of failing the function.
func TestSlackURLFromSecret(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/X": "https://hooks.slack.com/services/T/B/X",
		"Vq3!xY-generated-placeholder":           "",
		"":                                       "",
	} {
		if got := slackURL(in, slog.New(slog.DiscardHandler)); got != want {
			t.Errorf("slackURL(%q) = %q, want %q", in, got, want)
		}
	}
}
