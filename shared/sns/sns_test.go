package sns

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// endpointEnv names moto's URL; scripts/test starts moto and sets it.
const endpointEnv = "MODELREG_MOTO_ENDPOINT"

func TestSubject(t *testing.T) {
	long := strings.Repeat("é", 150)
	for in, want := range map[string]string{
		"":                          "modelreg",
		" \n\t ":                    "modelreg",
		"a\nb\r\nc\x00d  e":         "a b c d e",
		"[modelreg] fraud_model v2": "[modelreg] fraud_model v2",
		long:                        strings.Repeat("é", MaxSubject-1) + "…",
	} {
		got := Subject(in)
		if got != want {
			t.Errorf("Subject(%q) = %q, want %q", in, got, want)
		}
		if utf8.RuneCountInString(got) > MaxSubject {
			t.Errorf("Subject(%q) has %d characters", in, utf8.RuneCountInString(got))
		}
	}
}

func TestNewRefusesBadTopic(t *testing.T) {
	if _, err := New(nil, "my-topic"); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("New with a name, not an ARN: %v, want Invalid", err)
	}
}

// envelope is what SNS puts on an SQS subscription (raw delivery off).
type envelope struct {
	Type              string
	TopicArn          string
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// TestPublishToMoto: a notification published to a topic on moto arrives
// in an SQS queue subscribed to it, with its subject (one line, under 100
// characters), its plain-text body and its attributes; a topic that does
// not exist is a permanent error.
func TestPublishToMoto(t *testing.T) {
	ep := os.Getenv(endpointEnv)
	if ep == "" {
		msg := endpointEnv + " is not set: run scripts/test, or start moto with `scripts/test.d/moto.sh start DIR` and export the line it prints"
		testenv.Missing(t, msg, "the SNS tests")
	}
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	sc := awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: creds})
	qc := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: creds})
	name := fmt.Sprintf("modelreg-notify-%d", time.Now().UnixNano())
	topic, err := sc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { sc.DeleteTopic(ctx, &awssns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
	q, err := qc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	t.Cleanup(func() { qc.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	attrs, err := qc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("queue attributes: %v", err)
	}
	if _, err := sc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	client, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: creds}, Service, ep)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(client, *topic.TopicArn)
	if err != nil {
		t.Fatal(err)
	}
	n := registry.Notification{
		Kind: registry.NotifyApprovalRequested, Audience: registry.AudienceApprovers, Model: "fraud_model",
		Subject: "[modelreg] fraud_model v2 → Production: approval requested by pat\nwith a reason that goes on " + strings.Repeat("and on ", 20),
		Text:    "fraud_model version 2: Staging → Production\nRequested by: pat\n\nmodelreg approvals approve 01ABC\n",
	}
	if err := p.Notify(ctx, n); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	var got []envelope
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		out, err := qc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			var e envelope
			if err := json.Unmarshal([]byte(*m.Body), &e); err != nil {
				t.Fatalf("message %s: %v", *m.Body, err)
			}
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1: %+v", len(got), got)
	}
	e := got[0]
	if e.Type != "Notification" || e.TopicArn != *topic.TopicArn {
		t.Errorf("envelope %+v", e)
	}
	if e.Message != n.Text {
		t.Errorf("body %q, want %q", e.Message, n.Text)
	}
	if e.Subject != Subject(n.Subject) || strings.ContainsAny(e.Subject, "\n\r") || utf8.RuneCountInString(e.Subject) > MaxSubject ||
		!strings.HasPrefix(e.Subject, "[modelreg] fraud_model v2 → Production: approval requested by pat with a reason") {
		t.Errorf("subject %q", e.Subject)
	}
	for k, want := range map[string]string{"kind": "approval_requested", "audience": "approvers", "model": "fraud_model"} {
		if a := e.MessageAttributes[k]; a.Type != "String" || a.Value != want {
			t.Errorf("attribute %s = %+v, want String %q", k, a, want)
		}
	}

	missing, _ := New(client, strings.TrimSuffix(*topic.TopicArn, name)+"no-such-topic")
	err = missing.Notify(ctx, n)
	if err == nil || !registry.IsPermanent(err) {
		t.Errorf("Notify to a missing topic: %v, want a permanent error", err)
	}
}
