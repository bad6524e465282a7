package eventbridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/eventbridge/ebtest"
	"github.com/modelreg/modelreg/shared/registry"
)

// motoRules are the stack's rules, each delivering to its own queue.
func motoRules() map[string]string {
	return map[string]string{"redeploy": eventbridge.RedeployPattern(), "notify": eventbridge.NotifyPattern(),
		"sagemaker-prefix": eventbridge.SageMakerEndpointPattern("prod-"), "sagemaker-tagged": eventbridge.SageMakerEndpointPattern("")}
}

// newMotoBus creates a bus with motoRules on the moto server the
// environment names (skipped without one, failed in CI).
func newMotoBus(t *testing.T) *ebtest.Bus {
	t.Helper()
	return ebtest.New(t, ebtest.Endpoint(t), motoRules())
}

var motoAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func ids(evs []registry.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

func motoEvent(id, typ string, d registry.EventDetail) registry.Event {
	d.Model = "fraud_model"
	return registry.Event{ID: id, Type: typ, Source: registry.EventSource, Time: motoAt, Detail: d}
}

// TestRulesOnMoto sends real events through the adapter to moto's
// EventBridge and reads back, from each rule's SQS queue, exactly the
// events its pattern must match.
func TestRulesOnMoto(t *testing.T) {
	m := newMotoBus(t)
	p, err := eventbridge.New(m.API, eventbridge.Options{BusName: m.Name})
	if err != nil {
		t.Fatal(err)
	}
	evs := []registry.Event{
		// A promotion: approval requested and decided, then its two stage
		// changes (v2 in, v1 out) — redeploy once.
		motoEvent("req", registry.EventApprovalRequested, registry.EventDetail{Version: 2, From: registry.StageStaging, To: registry.StageProduction, ApprovalID: "ap1", Actor: "anna"}),
		motoEvent("dec", registry.EventApprovalDecided, registry.EventDetail{Version: 2, ApprovalID: "ap1", Status: "APPROVED", Actor: "bo"}),
		motoEvent("v2-in", registry.EventStageChanged, registry.EventDetail{Version: 2, From: registry.StageStaging, To: registry.StageProduction, ApprovalID: "ap1"}),
		motoEvent("v1-out", registry.EventStageChanged, registry.EventDetail{Version: 1, From: registry.StageProduction, To: registry.StageArchived}),
		// A direct move, and a version from None straight to Production.
		motoEvent("v3-staging", registry.EventStageChanged, registry.EventDetail{Version: 3, From: registry.StageNone, To: registry.StageStaging}),
		motoEvent("v4-prod", registry.EventStageChanged, registry.EventDetail{Version: 4, From: registry.StageNone, To: registry.StageProduction}),
		// A rollback back to v1.
		motoEvent("rollback", registry.EventStageChanged, registry.EventDetail{Version: 1, From: registry.StageArchived, To: registry.StageProduction, Rollback: true}),
		// Deployment outcomes.
		motoEvent("dep-start", registry.EventDeploymentStarted, registry.EventDetail{Version: 1}),
		motoEvent("dep-ok", registry.EventDeploymentSucceeded, registry.EventDetail{Version: 1}),
		motoEvent("dep-fail", registry.EventDeploymentFailed, registry.EventDetail{Version: 1, Reason: "endpoint failed"}),
		// A redelivery request (modelreg deployments NAME redeliver ID).
		motoEvent("dep-req", registry.EventDeploymentRequested, registry.EventDetail{Version: 1, TargetID: "dt-1", DeploymentID: "dp-1"}),
		// Events neither rule matches; "Production" appears in the alias
		// and the reason, never in detail.to.
		motoEvent("alias", registry.EventAliasChanged, registry.EventDetail{Version: 2, Alias: "Production"}),
		motoEvent("registered", registry.EventVersionRegistered, registry.EventDetail{Version: 5, Reason: "to Production"}),
		motoEvent("ready", registry.EventVersionReady, registry.EventDetail{Version: 5, Status: "READY"}),
		motoEvent("deleted", registry.EventVersionDeleted, registry.EventDetail{Version: 3}),
	}
	// 15 events: two PutEvents calls (10 + 5) on moto, which refuses more
	// than 10 entries in one.
	if err := p.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	redeploy, notify := m.Drain(t, "redeploy"), m.Drain(t, "notify")
	if got, want := ids(redeploy), []string{"dep-req", "rollback", "v2-in", "v4-prod"}; !reflect.DeepEqual(got, want) {
		t.Errorf("redeploy queue got %v, want %v", got, want)
	}
	wantNotify := []string{"dec", "dep-fail", "dep-ok", "dep-start", "req", "rollback", "v1-out", "v2-in", "v3-staging", "v4-prod"}
	if got := ids(notify); !reflect.DeepEqual(got, wantNotify) {
		t.Errorf("notify queue got %v, want %v", got, wantNotify)
	}
	for _, rule := range []string{"sagemaker-prefix", "sagemaker-tagged"} {
		if got := m.DrainRaw(t, rule); len(got) != 0 {
			t.Errorf("%s queue got modelreg events: %v", rule, got)
		}
	}
	// What arrives is what was published (Decode keys it by event_id).
	for _, got := range append(redeploy, notify...) {
		i := slices.IndexFunc(evs, func(e registry.Event) bool { return e.ID == got.ID })
		if want := evs[i]; got != want {
			t.Errorf("delivered %+v, published %+v", got, want)
		}
	}
}

// TestPartialFailureOnMoto: moto reports one entry of a call failed; the
// adapter names only that event, the others arrive once, and publishing
// the named one again (the outbox relay's deferral) delivers it once.
// moto's per-entry failures are validation errors (InvalidArgument), which
// are permanent, so the in-call retry of transient failures
// (InternalFailure, ThrottlingException) is covered by the httptest tests.
func TestPartialFailureOnMoto(t *testing.T) {
	m := newMotoBus(t)
	refuser := ebtest.NewRefuser("b")
	p, err := eventbridge.New(ebtest.NewClient(t, m.Endpoint, refuser), eventbridge.Options{BusName: m.Name})
	if err != nil {
		t.Fatal(err)
	}
	evs := []registry.Event{
		motoEvent("a", registry.EventStageChanged, registry.EventDetail{Version: 2, From: registry.StageStaging, To: registry.StageProduction}),
		motoEvent("b", registry.EventStageChanged, registry.EventDetail{Version: 3, From: registry.StageStaging, To: registry.StageProduction}),
		motoEvent("c", registry.EventApprovalRequested, registry.EventDetail{Version: 4}),
	}
	err = p.Publish(context.Background(), evs)
	var pe *eventbridge.PublishError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.FailedIDs(), []string{"b"}) || pe.Failures[0].Code != "InvalidArgument" {
		t.Fatalf("err %v, want b failed with moto's InvalidArgument", err)
	}
	if calls := refuser.Calls(); !reflect.DeepEqual(calls, [][]string{{"a", "b", "c"}}) {
		t.Fatalf("calls %v: an accepted or permanently failed entry was sent again", calls)
	}
	if got := ids(m.Drain(t, "redeploy")); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("redeploy queue after the partial failure: %v, want [a]", got)
	}
	if err := p.Publish(context.Background(), []registry.Event{evs[1]}); err != nil {
		t.Fatalf("publishing the deferred event again: %v", err)
	}
	if got := ids(m.Drain(t, "redeploy")); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("redeploy queue after the retry: %v, want [b]", got)
	}
	if got := ids(m.Drain(t, "notify")); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("notify queue: %v, want [a b c] once each", got)
	}
}

// TestSageMakerRuleOnMoto: SageMaker's endpoint state changes reach the
// redeploy function's rule for endpoints under the prefix (or, without
// one, endpoints a modelreg deployment tagged), and nothing else does.
func TestSageMakerRuleOnMoto(t *testing.T) {
	m := newMotoBus(t)
	ctx := context.Background()
	send := func(detailType, source, detail string) {
		t.Helper()
		out, err := m.Client.PutEvents(ctx, &awseb.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String(m.Name), Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(detail)}}})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("put %s: %v %+v", detail, err, out)
		}
	}
	const change = "SageMaker Endpoint State Change"
	send(change, "aws.sagemaker", `{"EndpointName":"prod-fraud","EndpointStatus":"IN_SERVICE","Tags":{}}`)
	send(change, "aws.sagemaker", `{"EndpointName":"other","EndpointStatus":"IN_SERVICE","Tags":{"modelreg:deployment":"dp-1","modelreg:model":"m"}}`)
	send(change, "aws.sagemaker", `{"EndpointName":"other","EndpointStatus":"FAILED","Tags":{"team":"x"}}`)
	send("SageMaker Model State Change", "aws.sagemaker", `{"ModelName":"prod-fraud","Tags":{"modelreg:deployment":"dp-1"}}`)
	send(change, "not.sagemaker", `{"EndpointName":"prod-fraud","EndpointStatus":"IN_SERVICE","Tags":{"modelreg:deployment":"dp-1"}}`)
	endpoints := func(rule string) []string {
		var out []string
		for _, body := range m.DrainRaw(t, rule) {
			var env struct {
				Detail struct{ EndpointName, EndpointStatus string } `json:"detail"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil {
				t.Fatal(err)
			}
			out = append(out, env.Detail.EndpointName+"/"+env.Detail.EndpointStatus)
		}
		slices.Sort(out)
		return out
	}
	if got, want := endpoints("sagemaker-prefix"), []string{"prod-fraud/IN_SERVICE"}; !reflect.DeepEqual(got, want) {
		t.Errorf("prefix rule got %v, want %v", got, want)
	}
	if got, want := endpoints("sagemaker-tagged"), []string{"other/IN_SERVICE"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tag rule got %v, want %v", got, want)
	}
	if got := m.DrainRaw(t, "redeploy"); len(got) != 0 {
		t.Errorf("redeploy rule got SageMaker events: %v", got)
	}
}
