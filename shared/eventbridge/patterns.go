package eventbridge

import (
	"encoding/json"

	"github.com/modelreg/modelreg/shared/registry"
)

// pattern is an EventBridge event pattern over modelreg's envelope.
type pattern struct {
	Source     []string            `json:"source"`
	DetailType []string            `json:"detail-type"`
	Detail     map[string][]string `json:"detail,omitempty"`
}

func (p pattern) json() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a fixed value of plain strings always marshals
	}
	return string(b)
}

// RedeployPattern is the event pattern of the redeploy rule: a stage
// change whose new stage is Production. A promotion emits two stage
// changes — the new version to Production, the old one out of it — and
// only the first matches, so one promotion (or rollback) redeploys once.
func RedeployPattern() string {
	return pattern{
		Source:     []string{registry.EventSource},
		DetailType: []string{registry.EventStageChanged},
		Detail:     map[string][]string{"to": {string(registry.StageProduction)}},
	}.json()
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
