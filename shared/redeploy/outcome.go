package redeploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sagemaker"
)

// HandleEndpointState records the outcome of a SageMaker update from the
// endpoint's "SageMaker Endpoint State Change" event: the endpoint's tags
// name the deployment StartUpdate began. InService on the deployment's
// endpoint config is SUCCEEDED; Failed, or InService on another config
// with a FailureReason (the update was rolled back), is FAILED with the
// reason. Other states, events about endpoints modelreg did not tag, and
// deployments already finished are ignored, so SageMaker's duplicate
// events change nothing. An error means the registry could not be read
// or written: the event is worth delivering again.
func (h *Handler) HandleEndpointState(ctx context.Context, sc sagemaker.StateChange) error {
	model, id := sc.Tags[sagemaker.TagModel], sc.Tags[sagemaker.TagDeployment]
	if model == "" || id == "" {
		h.log().Debug("redeploy: state change of an endpoint without a modelreg deployment", "endpoint", sc.EndpointName)
		return nil
	}
	return h.settle(ctx, model, id, sc.Status())
}

// settle records the outcome st shows for deployment id of model, if the
// update ended.
func (h *Handler) settle(ctx context.Context, model, id string, st sagemaker.Status) error {
	dep, err := h.Registry.GetDeployment(ctx, model, id)
	if registry.ErrorCode(err) == registry.NotFound {
		h.forget(id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("deployment %s of %s: %w", id, model, err)
	}
	if dep.Status != registry.DeploymentStarted {
		h.forget(id)
		return nil
	}
	done, ok := st.Done()
	switch {
	case !done:
		return nil
	case ok && st.EndpointConfigName == dep.External:
		dep.Status, dep.Reason = registry.DeploymentSucceeded, ""
	case ok && st.FailureReason == "":
		return nil // in service on another config, and no failure said: not our update's outcome
	default:
		reason := st.FailureReason
		if reason == "" {
			reason = "endpoint " + st.Endpoint + " is " + st.Status
		}
		dep.Status, dep.Reason = registry.DeploymentFailed, Reason(errors.New("SageMaker: "+reason))
	}
	if _, err := h.Registry.RecordDeployment(ctx, dep); err != nil {
		return fmt.Errorf("record deployment %s of %s %s: %w", id, model, dep.Status, err)
	}
	h.forget(id)
	return nil
}

func (h *Handler) forget(id string) {
	h.mu.Lock()
	delete(h.pending, id)
	h.mu.Unlock()
}

// Poll settles the SageMaker updates this Handler started whose outcome
// has not arrived: for each it describes the endpoint and records the
// outcome once the update ended. The local server runs it periodically
// (it has no EventBridge rule to deliver SageMaker's events).
func (h *Handler) Poll(ctx context.Context) error {
	h.mu.Lock()
	todo := make([]pendingUpdate, 0, len(h.pending))
	for _, p := range h.pending {
		todo = append(todo, p)
	}
	h.mu.Unlock()
	var errs []error
	for _, p := range todo {
		st, err := h.SageMaker.Endpoint(ctx, p.endpoint)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := h.settle(ctx, p.model, p.id, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pending returns how many SageMaker updates Poll is waiting on.
func (h *Handler) Pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pending)
}
