package redeploy

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sagemaker"
)

func startSageMaker(t *testing.T) (*rig, registry.Deployment) {
	t.Helper()
	r := newRig(smT)
	if err := r.h.Handle(context.Background(), promoted("ev-sm", 2, 1)); err != nil {
		t.Fatal(err)
	}
	return r, r.reg.deployments[registry.DeploymentID("ev-sm", "dt-s")]
}

func stateChange(dep registry.Deployment, status, config, reason string) sagemaker.StateChange {
	return sagemaker.StateChange{EndpointName: "fraud-ep", EndpointConfigName: config, EndpointStatus: status, FailureReason: reason,
		Tags: map[string]string{sagemaker.TagModel: dep.Model, sagemaker.TagDeployment: dep.ID, sagemaker.TagVersion: "2"}}
}

func TestEndpointStateInService(t *testing.T) {
	r, dep := startSageMaker(t)
	ctx := context.Background()
	for _, sc := range []sagemaker.StateChange{
		stateChange(dep, "UPDATING", dep.External, ""),
		stateChange(dep, "IN_SERVICE", "the-old-config", ""), // not ours, no failure: ignored
		stateChange(dep, "IN_SERVICE", dep.External, ""),
		stateChange(dep, "IN_SERVICE", dep.External, ""), // SageMaker sends duplicates
		stateChange(dep, "FAILED", dep.External, "late and wrong"),
		{EndpointName: "someone-elses", EndpointStatus: "FAILED"},
	} {
		if err := r.h.HandleEndpointState(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.reg.statuses(dep.ID); !reflect.DeepEqual(st, []registry.DeploymentStatus{"STARTED", "SUCCEEDED"}) {
		t.Fatalf("statuses %v", st)
	}
}

func TestEndpointStateFailed(t *testing.T) {
	for name, sc := range map[string]func(registry.Deployment) sagemaker.StateChange{
		"failed": func(d registry.Deployment) sagemaker.StateChange {
			return stateChange(d, "FAILED", d.External, "The primary container did not pass the ping health check.")
		},
		"rolled back": func(d registry.Deployment) sagemaker.StateChange {
			return stateChange(d, "IN_SERVICE", "the-old-config", "The primary container did not pass the ping health check.")
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, dep := startSageMaker(t)
			if err := r.h.HandleEndpointState(context.Background(), sc(dep)); err != nil {
				t.Fatal(err)
			}
			d := r.reg.deployments[dep.ID]
			if d.Status != registry.DeploymentFailed || !strings.Contains(d.Reason, "ping health check") {
				t.Fatalf("deployment %+v", d)
			}
		})
	}
}

func TestPollSettlesStartedUpdates(t *testing.T) {
	r, dep := startSageMaker(t)
	ctx := context.Background()
	if r.h.Pending() != 1 {
		t.Fatalf("pending %d", r.h.Pending())
	}
	r.sm.endpoints["fraud-ep"] = sagemaker.Status{Endpoint: "fraud-ep", Status: "Updating", EndpointConfigName: "the-old-config"}
	if err := r.h.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if r.reg.deployments[dep.ID].Status != registry.DeploymentStarted || r.h.Pending() != 1 {
		t.Fatal("an update in progress was settled")
	}
	r.sm.endpoints["fraud-ep"] = sagemaker.Status{Endpoint: "fraud-ep", Status: "InService", EndpointConfigName: dep.External}
	if err := r.h.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if r.reg.deployments[dep.ID].Status != registry.DeploymentSucceeded || r.h.Pending() != 0 {
		t.Fatalf("after InService: %+v, pending %d", r.reg.deployments[dep.ID], r.h.Pending())
	}
}
