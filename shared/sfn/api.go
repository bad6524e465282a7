package sfn

// The Step Functions requests and answers the adapter sends and reads
// (AWS JSON 1.0; field names as in the Step Functions API Reference).

type startExecutionInput struct {
	StateMachineARN string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Input           string `json:"input"`
}

type startExecutionOutput struct {
	ExecutionARN string `json:"executionArn"`
}

type sendTaskSuccessInput struct {
	TaskToken string `json:"taskToken"`
	Output    string `json:"output"`
}

type sendTaskFailureInput struct {
	TaskToken string `json:"taskToken"`
	Error     string `json:"error"`
	Cause     string `json:"cause"`
}

type sendTaskHeartbeatInput struct {
	TaskToken string `json:"taskToken"`
}
