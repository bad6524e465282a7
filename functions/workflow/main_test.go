package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
	"github.com/modelreg/modelreg/shared/workflow"
)

var quiet = slog.New(slog.DiscardHandler)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// sampleOf is each task's sample of events/ and its exact input type.
var sampleOf = map[string]struct {
	file  string
	input func() any
}{
	"Validate":        {"workflow-validate.json", func() any { return &workflow.ValidateInput{} }},
	"RequestApproval": {"workflow-request-approval.json", func() any { return &workflow.RequestApprovalInput{} }},
	"Promote":         {"workflow-promote.json", func() any { return &workflow.PromoteInput{} }},
	"RecordOutcome":   {"workflow-record-outcome.json", func() any { return &workflow.OutcomeInput{} }},
}

// sample reads task's sample, checking that it decodes with no unknown
// field into the task's input type, and returns its bytes.
func sample(t *testing.T, task string) []byte {
	t.Helper()
	s := sampleOf[task]
	b, err := os.ReadFile(filepath.Join("..", "..", "events", s.file))
	if err != nil {
		t.Fatal(err)
	}
	in := s.input()
	if err := lambdatest.DecodeStrict(b, in); err != nil {
		t.Fatalf("%s is not a %T: %v", s.file, in, err)
	}
	return b
}

// TestSamplesDecode: there is one sample per task of the document, each
// the exact input type of its task.
func TestSamplesDecode(t *testing.T) {
	files, _ := filepath.Glob("../../events/workflow-*.json")
	if len(files) != len(Tasks()) || len(sampleOf) != len(Tasks()) {
		t.Fatalf("%d workflow samples for the tasks %v", len(files), Tasks())
	}
	for _, task := range Tasks() {
		sample(t, task)
	}
}

func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinks(t, "github.com/modelreg/modelreg/shared/dynamodb", "github.com/modelreg/modelreg/shared/sfn", "github.com/modelreg/modelreg/shared/workflow")
}

// TestSetupRefuses: an unknown or missing task, or a missing table, fails
// setup naming the setting.
func TestSetupRefuses(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	for want, env := range map[string]map[string]string{
		"Validate, RequestApproval, Promote, RecordOutcome": {"MODELREG_WORKFLOW_TASK": "Deploy", "MODELREG_DYNAMODB_TABLE": "t", "MODELREG_S3_BUCKET": "b"},
		"MODELREG_WORKFLOW_TASK":                            {"MODELREG_DYNAMODB_TABLE": "t", "MODELREG_S3_BUCKET": "b"},
		"AWS.DynamoDBTable":                                 {"MODELREG_WORKFLOW_TASK": "Promote", "MODELREG_S3_BUCKET": "b"},
	} {
		_, _, err := setup(t.Context(), mapEnv(env), quiet)
		var ce *app.ConfigError
		if err == nil || !(strings.Contains(err.Error(), want) || (asConfig(err, &ce) && ce.Setting == want)) {
			t.Errorf("setup(%v): %v, want an error naming %s", env, err, want)
		}
	}
}

func asConfig(err error, ce **app.ConfigError) bool {
	c, ok := err.(*app.ConfigError)
	*ce = c
	return ok
}

// replace sets the given fields of a JSON payload.
func replace(t *testing.T, payload []byte, kv map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range kv {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// TestTasksOnEmulators runs the built bootstrap (natively and the arm64
// build under qemu), one process per task as the stack deploys it,
// through the Lambda Runtime API on DynamoDB Local, with moto's Step
// Functions for task tokens. Each sample as it is names an approval that
// does not exist: a Lambda error named Modelreg.TaskFailed, as the
// document's Catch expects. With the ids of a real promotion (requested
// through the api side's service on a moto state machine): Validate
// passes it, RequestApproval stores its token and — the approval was
// decided first — ends the wait itself, Promote moves the version to
// Production (a redelivery changes nothing), and RecordOutcome records a
// second request's rejection.
func TestTasksOnEmulators(t *testing.T) {
	ddbURL, s3URL, motoURL := lambdatest.Peers(t)
	key, secretKey := os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY")
	creds := credentials.NewStaticCredentialsProvider(key, secretKey, "")
	awsCfg := &aws.Config{Region: "us-east-1", Credentials: creds}
	api, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: creds}, wire.Service, ddbURL)
	if err != nil {
		t.Fatal(err)
	}
	ddb := wire.New(api)
	sfnc := awssfn.New(awssfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(motoURL), Credentials: creds})

	for _, arch := range lambdatest.Arches(t) {
		t.Run(arch.Label(), func(t *testing.T) {
			bin := lambdatest.Build(t, ".", arch.GOARCH)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			name := fmt.Sprintf("workflow-%s-%d", arch.GOARCH, time.Now().UnixNano())
			sm, err := sfnc.CreateStateMachine(ctx, &awssfn.CreateStateMachineInput{Name: aws.String(name),
				RoleArn:    aws.String("arn:aws:iam::123456789012:role/modelreg-workflow"),
				Definition: aws.String(`{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":3600,"End":true}}}`)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				sfnc.DeleteStateMachine(context.Background(), &awssfn.DeleteStateMachineInput{StateMachineArn: sm.StateMachineArn})
				dynamodb.DeleteTable(context.Background(), ddb, name)
			})
			// The api side: the service that requests promotions.
			a, err := app.New(ctx, app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Workflow: app.WorkflowSFN,
				Secret: bytes.Repeat([]byte("s"), 32), Logger: quiet, UploadSweepInterval: -1,
				Service: registry.Config{VerifyAsyncBytes: -1},
				AWS: app.AWS{Config: awsCfg, DynamoDBTable: name, DynamoDBEndpoint: ddbURL, S3Bucket: name, S3Endpoint: s3URL,
					StateMachineARN: *sm.StateMachineArn, SFNEndpoint: motoURL, CreateResources: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			pub := registry.WithPrincipal(ctx, registry.Principal{Name: "pat", Role: registry.RolePublisher})
			approver := registry.WithPrincipal(ctx, registry.Principal{Name: "carol", Role: registry.RoleApprover})
			if _, err := a.Service.CreateModel(pub, registry.NewModel{Name: "churn"}); err != nil {
				t.Fatal(err)
			}
			v1, v2 := ready(t, pub, a), ready(t, pub, a)
			request := func(v int) registry.Approval {
				t.Helper()
				if _, err := a.Service.Transition(pub, "churn", v, registry.StageStaging, ""); err != nil {
					t.Fatal(err)
				}
				r, err := a.Service.Transition(pub, "churn", v, registry.StageProduction, "ship it")
				if err != nil || r.Approval == nil {
					t.Fatalf("request promotion of v%d: %+v %v", v, r, err)
				}
				return *r.Approval
			}
			ap := request(v1)

			fns := map[string]*lambdatest.Function{}
			for _, task := range Tasks() {
				fns[task] = lambdatest.Start(t, bin, arch, lambdatest.Options{Name: "workflow-" + task, Env: []string{
					"MODELREG_WORKFLOW_TASK=" + task, "MODELREG_DYNAMODB_TABLE=" + name, "MODELREG_DYNAMODB_ENDPOINT=" + ddbURL,
					"MODELREG_S3_BUCKET=" + name, "MODELREG_SFN_ENDPOINT=" + motoURL,
					"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secretKey, "AWS_REGION=us-east-1",
				}})
			}
			invoke := func(task string, payload []byte) lambdatest.Result {
				t.Helper()
				r, err := fns[task].Invoke(ctx, payload)
				if err != nil {
					t.Fatalf("%s: %v", task, err)
				}
				return r
			}
			for _, task := range Tasks() { // the samples as they are: no such approval
				if r := invoke(task, sample(t, task)); r.Error == nil || r.Error.Type != workflow.ErrorTaskFailed || !strings.Contains(r.Error.Message, "01JDZ8Q6V0000000000000AP1") {
					t.Errorf("%s on the sample: %+v %s, want a %s error naming the approval", task, r.Error, r.Payload, workflow.ErrorTaskFailed)
				}
			}

			ids := map[string]any{"approval_id": ap.ID, "model": "churn", "version": v1}
			r := invoke("Validate", replace(t, sample(t, "Validate"), ids))
			var val workflow.ValidateOutput
			if r.Error != nil || json.Unmarshal(r.Payload, &val) != nil || !val.Passed || val.AutoApprove {
				t.Fatalf("Validate: %+v %s", r.Error, r.Payload)
			}
			// The decision comes before the wait's token (a race the
			// RequestApproval task resolves by ending the wait itself).
			if _, err := a.Service.DecideApproval(approver, ap.ID, true, "fine"); err != nil {
				t.Fatal(err)
			}
			r = invoke("RequestApproval", replace(t, sample(t, "RequestApproval"), ids))
			if r.Error != nil || string(r.Payload) != "{}" {
				t.Fatalf("RequestApproval: %+v %s", r.Error, r.Payload)
			}
			if got, err := a.Service.GetApproval(approver, ap.ID); err != nil || got.TaskToken == "" {
				t.Errorf("approval after RequestApproval: %+v %v, want the token stored", got, err)
			}
			for round := 1; round <= 2; round++ { // a redelivery promotes nothing new
				r = invoke("Promote", replace(t, sample(t, "Promote"), ids))
				var out workflow.PromoteOutput
				if r.Error != nil || json.Unmarshal(r.Payload, &out) != nil || out.Version != v1 {
					t.Fatalf("Promote round %d: %+v %s", round, r.Error, r.Payload)
				}
			}
			if v, err := a.Service.GetVersion(pub, "churn", v1); err != nil || v.Stage != registry.StageProduction {
				t.Errorf("v%d after Promote: %+v %v", v1, v, err)
			}

			ap2 := request(v2)
			r = invoke("RecordOutcome", replace(t, sample(t, "RecordOutcome"), map[string]any{"approval_id": ap2.ID}))
			if r.Error != nil || string(r.Payload) != "{}" {
				t.Fatalf("RecordOutcome: %+v %s", r.Error, r.Payload)
			}
			if got, err := a.Service.GetApproval(approver, ap2.ID); err != nil || got.Status != registry.ApprovalRejected {
				t.Errorf("second approval after RecordOutcome: %+v %v, want REJECTED", got, err)
			}
			if v, _ := a.Service.GetVersion(pub, "churn", v2); v.Stage == registry.StageProduction {
				t.Errorf("the rejected v%d is in Production", v2)
			}
		})
	}
}

// ready registers a READY version of churn with one small file uploaded
// through its presigned URL, and returns its number.
func ready(t *testing.T, ctx context.Context, a *app.App) int {
	t.Helper()
	v, err := a.Service.RegisterVersion(ctx, "churn", registry.NewVersion{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(fmt.Sprintf("model bytes of v%d", v.Number))
	sum := sha256.Sum256(body)
	ticket, err := a.Service.CreateUpload(ctx, "churn", v.Number, []registry.FileSpec{{Path: "model.bin", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatal(err)
	}
	artifacttest.SendParts(t, ticket.Files[0], body)
	got, err := a.Service.CompleteUpload(ctx, "churn", v.Number, ticket.UploadID)
	if err != nil || got.Status != registry.StatusReady {
		t.Fatalf("complete v%d: %s %v", v.Number, got.Status, err)
	}
	return v.Number
}
