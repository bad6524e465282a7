package redeploy

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/registry"
)

func sample(t *testing.T, name string) events.EventBridgeEvent {
	t.Helper()
	raw, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestSampleEvents runs the function's sample inputs through
// HandleEventBridge: each does what its rule is for.
func TestSampleEvents(t *testing.T) {
	ctx := context.Background()
	requested := registry.DeployTarget{ID: "dt-01M8T0QK3R4N5P6Q7R8S9T0V1W", Model: model, Kind: registry.TargetWebhook, URL: "https://c.example/hook", SealedSecret: "sc"}
	r := newRig(hookA, requested)

	if err := r.h.HandleEventBridge(ctx, sample(t, "redeploy-stage-changed.json")); err != nil {
		t.Fatal(err)
	}
	a, c := r.hooks.to(hookA.URL), r.hooks.to(requested.URL)
	if len(a) != 1 || len(c) != 1 || a[0].EventID != "01M8T0Z2B4J6T4XW3X5Q0YV9CE" {
		t.Fatalf("stage change: deliveries a=%v c=%v", a, c)
	}

	if err := r.h.HandleEventBridge(ctx, sample(t, "redeploy-deployment-requested.json")); err != nil {
		t.Fatal(err)
	}
	if len(r.hooks.to(hookA.URL)) != 1 || len(r.hooks.to(requested.URL)) != 2 {
		t.Fatalf("request: deliveries %v", r.hooks.got)
	}

	// The SageMaker sample's tags name a started deployment.
	dep := registry.Deployment{ID: "dp-3f2a1b0c9d8e7f6a5b4c", Model: model, Version: 2, TargetID: "dt-s", TargetKind: registry.TargetSageMaker,
		Status: registry.DeploymentStarted, External: "fraud-model-v2-0123456789"}
	if _, err := r.reg.RecordDeployment(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := r.h.HandleEventBridge(ctx, sample(t, "redeploy-sagemaker-state-change.json")); err != nil {
		t.Fatal(err)
	}
	if got := r.reg.deployments[dep.ID].Status; got != registry.DeploymentSucceeded {
		t.Fatalf("SageMaker state change: deployment %s", got)
	}

	other := sample(t, "redeploy-stage-changed.json")
	other.Source = "aws.s3"
	broken := sample(t, "redeploy-sagemaker-state-change.json")
	broken.Detail = json.RawMessage(`{"EndpointStatus":1}`)
	for _, ev := range []events.EventBridgeEvent{other, broken} {
		if err := r.h.HandleEventBridge(ctx, ev); err != nil {
			t.Fatalf("%s: %v", ev.Source, err)
		}
	}
	if len(r.hooks.got) != 3 {
		t.Fatalf("deliveries %d", len(r.hooks.got))
	}
}
