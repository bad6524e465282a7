package redeploy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sagemaker"
)

// HandleEventBridge is the redeploy function's handler: the redeploy rule
// delivers modelreg's events (Handle), the SageMaker rule the endpoints'
// state changes (HandleEndpointState). An event of another source or type
// is logged and dropped, as is one that does not decode (retrying cannot
// mend it); an error asks EventBridge (through Lambda) to deliver again.
func (h *Handler) HandleEventBridge(ctx context.Context, ev events.EventBridgeEvent) error {
	switch {
	case ev.Source == sagemaker.EventSource && ev.DetailType == sagemaker.EventDetailType:
		sc, err := sagemaker.ParseStateChange(ev.Detail)
		if err != nil {
			h.log().Error("redeploy: undecodable SageMaker event dropped", "id", ev.ID, "err", err)
			return nil
		}
		return h.HandleEndpointState(ctx, sc)
	case ev.Source == registry.EventSource:
		raw, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("re-encode event %s: %w", ev.ID, err)
		}
		e, err := eventbridge.Decode(raw)
		if err != nil {
			h.log().Error("redeploy: undecodable modelreg event dropped", "id", ev.ID, "err", err)
			return nil
		}
		return h.Handle(ctx, e)
	}
	h.log().Warn("redeploy: event of another source ignored", "id", ev.ID, "source", ev.Source, "detail-type", ev.DetailType)
	return nil
}
