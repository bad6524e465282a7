package sagemaker

import (
	"encoding/json"
	"fmt"
)

// Source and DetailType of SageMaker's endpoint state-change events on
// EventBridge.
const (
	EventSource     = "aws.sagemaker"
	EventDetailType = "SageMaker Endpoint State Change"
)

// StateChange is the detail of a "SageMaker Endpoint State Change" event.
// EndpointStatus comes as "IN_SERVICE", "UPDATING", "FAILED"…; Tags are
// the endpoint's tags, which name the deployment StartUpdate began.
type StateChange struct {
	EndpointName       string            `json:"EndpointName"`
	EndpointArn        string            `json:"EndpointArn"`
	EndpointConfigName string            `json:"EndpointConfigName"`
	EndpointStatus     string            `json:"EndpointStatus"`
	FailureReason      string            `json:"FailureReason,omitempty"`
	Tags               map[string]string `json:"Tags"`
}

// ParseStateChange decodes the detail of an endpoint state-change event.
func ParseStateChange(detail json.RawMessage) (StateChange, error) {
	var sc StateChange
	if err := json.Unmarshal(detail, &sc); err != nil {
		return StateChange{}, fmt.Errorf("decode SageMaker endpoint state change: %w", err)
	}
	if sc.EndpointName == "" || sc.EndpointStatus == "" {
		return StateChange{}, fmt.Errorf("decode SageMaker endpoint state change: EndpointName and EndpointStatus are required")
	}
	return sc, nil
}

// Status returns sc as a Status.
func (sc StateChange) Status() Status {
	return Status{Endpoint: sc.EndpointName, Status: sc.EndpointStatus, EndpointConfigName: sc.EndpointConfigName, FailureReason: sc.FailureReason}
}
