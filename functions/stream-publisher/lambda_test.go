package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
)

// samplePath is this function's sample input: a DynamoDB Streams batch
// with an outbox INSERT and the REMOVE of its ack.
const samplePath = "../../events/stream-publisher.json"

// endpoint returns the emulator URL the environment names; without it the
// test skips, or fails when CI=true.
func endpoint(t *testing.T, env string) string {
	t.Helper()
	ep := os.Getenv(env)
	if ep == "" {
		msg := env + " is not set: run scripts/test (it starts DynamoDB Local and moto)"
		testenv.Missing(t, msg, "the function test")
	}
	return ep
}

func sample(t *testing.T) ([]byte, events.DynamoDBEvent) {
	t.Helper()
	b, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s is not an events.DynamoDBEvent: %v", samplePath, err)
	}
	return b, ev
}

// TestSampleDecodes: the sample is the function's exact input type, with
// one outbox event in it.
func TestSampleDecodes(t *testing.T) {
	_, ev := sample(t)
	if len(ev.Records) != 2 || ev.Records[0].EventName != "INSERT" || ev.Records[1].EventName != "REMOVE" {
		t.Fatalf("sample records %+v, want an INSERT and its REMOVE", ev.Records)
	}
	if _, ok := ev.Records[0].Change.NewImage["event"]; !ok {
		t.Fatal("the INSERT carries no outbox event")
	}
}

// attr converts a stream image value (the sample's S and N values) to the
// SDK's attribute value, so the test can write the item the INSERT says.
func attr(t *testing.T, v events.DynamoDBAttributeValue) wire.AttributeValue {
	t.Helper()
	switch v.DataType() {
	case events.DataTypeString:
		return wire.S(v.String())
	case events.DataTypeNumber:
		return wire.N(v.Number())
	}
	t.Fatalf("sample attribute of type %v", v.DataType())
	return wire.AttributeValue{}
}

// TestFunctionOnEmulators runs the built bootstrap (natively and the arm64
// build under qemu) through the Lambda Runtime API against DynamoDB Local
// and moto's EventBridge: the sample's outbox event reaches the bus once
// and is acked; the same batch delivered again publishes nothing.
func TestFunctionOnEmulators(t *testing.T) {
	ddbURL := endpoint(t, "MODELREG_DYNAMODB_ENDPOINT")
	motoURL := endpoint(t, "MODELREG_MOTO_ENDPOINT")
	payload, ev := sample(t)
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	api, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: creds}, wire.Service, ddbURL)
	if err != nil {
		t.Fatal(err)
	}
	ddb := wire.New(api)
	eb := awseb.New(awseb.Options{Region: "us-east-1", BaseEndpoint: aws.String(motoURL), Credentials: creds})
	sq := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(motoURL), Credentials: creds})

	for _, arch := range lambdatest.Arches(t) {
		t.Run(arch.Label(), func(t *testing.T) {
			bin := lambdatest.Build(t, ".", arch.GOARCH)
			// Generous: two shared cores, DynamoDB Local and qemu.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			start := time.Now()
			name := fmt.Sprintf("streampub-%s-%d", arch.GOARCH, time.Now().UnixNano())
			if err := dynamodb.CreateTable(ctx, ddb, name); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dynamodb.DeleteTable(context.Background(), ddb, name) })
			item := wire.Item{}
			for k, v := range ev.Records[0].Change.NewImage {
				item[k] = attr(t, v)
			}
			if _, err := ddb.PutItem(ctx, &wire.PutItemInput{TableName: name, Item: item}); err != nil {
				t.Fatal(err)
			}
			queue := busWithQueue(ctx, t, eb, sq, name)
			t.Logf("%s: table, item, bus and queue in %v", arch.Label(), time.Since(start).Round(time.Millisecond))
			f := lambdatest.Start(t, bin, arch, lambdatest.Options{Name: "stream-publisher", Env: []string{
				"MODELREG_DYNAMODB_TABLE=" + name, "MODELREG_EVENT_BUS=" + name, "MODELREG_S3_BUCKET=" + name,
				"AWS_ENDPOINT_URL_DYNAMODB=" + ddbURL, "AWS_ENDPOINT_URL_EVENTBRIDGE=" + motoURL,
				"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			}})
			init, err := f.WaitInit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: init %v", arch.Label(), init)
			for round := 1; round <= 2; round++ {
				r, err := f.Invoke(ctx, payload)
				if err != nil || r.Error != nil {
					t.Fatalf("round %d: %+v, %v", round, r.Error, err)
				}
				var resp events.DynamoDBEventResponse
				if err := json.Unmarshal(r.Payload, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("round %d: response %s (%v), want no failures", round, r.Payload, err)
				}
				got := drain(ctx, t, sq, queue)
				want := 0
				if round == 1 {
					want = 1 // a redelivered batch finds the event acked and publishes nothing
				}
				if len(got) != want {
					t.Fatalf("round %d: %d events on the bus, want %d", round, len(got), want)
				}
				if want == 1 && (got[0].ID != "01JDZ8Q6V0000000000000001" || got[0].Type != "Model Version Stage Changed" || got[0].Detail.Version != 3) {
					t.Errorf("event on the bus %+v", got[0])
				}
			}
			left, err := dynamodb.New(ddb, name).EventsInOutbox(ctx, []string{"01JDZ8Q6V0000000000000001"})
			if err != nil || left["01JDZ8Q6V0000000000000001"] {
				t.Errorf("outbox after the invocations: %v, %v; want the event acked", left, err)
			}
		})
	}
}

// busWithQueue creates bus name on moto with a rule sending every modelreg
// event to a new SQS queue, and returns the queue's URL.
func busWithQueue(ctx context.Context, t *testing.T, eb *awseb.Client, sq *sqs.Client, name string) string {
	t.Helper()
	if _, err := eb.CreateEventBus(ctx, &awseb.CreateEventBusInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &awseb.PutRuleInput{Name: aws.String("all"), EventBusName: aws.String(name),
		EventPattern: aws.String(`{"source":["modelreg"]}`), State: ebtypes.RuleStateEnabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &awseb.PutTargetsInput{Rule: aws.String("all"), EventBusName: aws.String(name),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := context.Background()
		eb.RemoveTargets(c, &awseb.RemoveTargetsInput{Rule: aws.String("all"), EventBusName: aws.String(name), Ids: []string{"queue"}})
		eb.DeleteRule(c, &awseb.DeleteRuleInput{Name: aws.String("all"), EventBusName: aws.String(name)})
		eb.DeleteEventBus(c, &awseb.DeleteEventBusInput{Name: aws.String(name)})
		sq.DeleteQueue(c, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	})
	return aws.ToString(q.QueueUrl)
}

// drain reads queue until it is empty and returns the decoded events.
func drain(ctx context.Context, t *testing.T, sq *sqs.Client, queue string) []registry.Event {
	t.Helper()
	var out []registry.Event
	for {
		r, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			e, err := eventbridge.Decode([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatalf("queue message %s: %v", aws.ToString(m.Body), err)
			}
			out = append(out, e)
			sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle})
		}
	}
}
