package eventbridge

import (
	"encoding/json"

	"github.com/modelreg/modelreg/shared/registry"
)

// pattern is an EventBridge event pattern over modelreg's envelope.
type pattern struct {
	Source     []string            `json:"source,omitempty"`
	DetailType []string            `json:"detail-type"`
	Detail     map[string][]string `json:"detail,omitempty"`
}

func (p pattern) json() string { return mustJSON(p) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a fixed value of plain strings always marshals
	}
	return string(b)
}

// RedeployPattern is the event pattern of the redeploy rule: a stage
// change whose new stage is Production, or a request to deploy again
// ("Model Deployment Requested", from `modelreg deployments NAME
// redeliver ID`). A promotion emits two stage changes — the new version to
// Production, the old one out of it — and only the first matches, so one
// promotion (or rollback) redeploys once.
func RedeployPattern() string {
	return mustJSON(map[string]any{
		"source": []string{registry.EventSource},
		"$or": []any{
			pattern{DetailType: []string{registry.EventStageChanged}, Detail: map[string][]string{"to": {string(registry.StageProduction)}}},
			pattern{DetailType: []string{registry.EventDeploymentRequested}},
		},
	})
}

// SageMakerEndpointPattern is the event pattern of the rule that brings
// SageMaker's endpoint state changes to the redeploy function, which
// records the outcome of the updates it started. With a prefix, only
// endpoints whose names start with it match; without one, every endpoint
// that a modelreg deployment tagged (the tag modelreg:deployment, see
// shared/sagemaker) matches.
func SageMakerEndpointPattern(prefix string) string {
	detail := map[string]any{"Tags": map[string]any{"modelreg:deployment": []any{map[string]bool{"exists": true}}}}
	if prefix != "" {
		detail = map[string]any{"EndpointName": []any{map[string]string{"prefix": prefix}}}
	}
	return mustJSON(map[string]any{
		"source":      []string{"aws.sagemaker"},
		"detail-type": []string{"SageMaker Endpoint State Change"},
		"detail":      detail,
	})
}

// NotifyTypes are the event types the notify rule matches, in the order
// its pattern lists them.
var NotifyTypes = []string{
	registry.EventApprovalRequested,
	registry.EventApprovalDecided,
	registry.EventStageChanged,
	registry.EventDeploymentStarted,
	registry.EventDeploymentSucceeded,
	registry.EventDeploymentFailed,
}

// NotifyPattern is the event pattern of the notify rule: approvals
// requested and decided, every stage change, and deployment events. The
// notifier decides which of them reach people (e.g. only failed
// deployments); the rule only keeps the rest off its queue.
func NotifyPattern() string {
	return pattern{Source: []string{registry.EventSource}, DetailType: append([]string(nil), NotifyTypes...)}.json()
}
