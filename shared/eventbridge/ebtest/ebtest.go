// Package ebtest gives tests an EventBridge bus on moto's server whose
// rules deliver into SQS queues (moto cannot target Lambda from a rule),
// and reads back which events each rule matched.
package ebtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/registry"
)

// EndpointEnv names moto's URL; scripts/test starts moto
// (scripts/test.d/moto.sh) and sets it.
const EndpointEnv = "MODELREG_MOTO_ENDPOINT"

// Credentials are the static credentials the tests give moto.
var Credentials = credentials.NewStaticCredentialsProvider("test", "test", "")

// Endpoint returns moto's URL, or skips the test without one (fails it
// when CI=true, so CI cannot pass without moto).
func Endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(EndpointEnv)
	if ep == "" {
		msg := EndpointEnv + " is not set: run scripts/test, or start moto with `scripts/test.d/moto.sh start DIR` and export the line it prints"
		testenv.Missing(t, msg, "the tests on moto")
	}
	return ep
}

// NewClient returns the adapter's EventBridge client (shared/awsapi) of
// moto at endpoint, with the test credentials, sending through doer (nil:
// awsapi's default HTTP client).
func NewClient(t testing.TB, endpoint string, doer awsapi.Doer) *awsapi.Client {
	t.Helper()
	c, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("test", "test", ""), HTTP: doer},
		eventbridge.Service, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// AllPattern matches every modelreg event.
var AllPattern = fmt.Sprintf(`{"source":[%q]}`, registry.EventSource)

// Bus is a custom bus on moto with rules, each targeting its own queue.
type Bus struct {
	Name     string
	Endpoint string
	// Client is the SDK's client, for setting up; API is the adapter's.
	Client *awseb.Client
	API    *awsapi.Client
	sqs    *sqs.Client
	queues map[string]string // rule → queue URL
}

var seq atomic.Int64

// New creates a bus on moto at endpoint with one rule per entry of rules
// (name → event pattern), each delivering to its own SQS queue; all are
// deleted when t ends.
func New(t testing.TB, endpoint string, rules map[string]string) *Bus {
	t.Helper()
	ctx := context.Background()
	b := &Bus{
		Name:     fmt.Sprintf("modelreg-test-%d-%d", time.Now().UnixNano(), seq.Add(1)),
		Endpoint: endpoint,
		Client:   awseb.New(awseb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: Credentials}),
		API:      NewClient(t, endpoint, nil),
		sqs:      sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: Credentials}),
		queues:   map[string]string{},
	}
	if _, err := b.Client.CreateEventBus(ctx, &awseb.CreateEventBusInput{Name: aws.String(b.Name)}); err != nil {
		t.Fatalf("create bus: %v", err)
	}
	t.Cleanup(func() {
		for rule := range b.queues {
			b.Client.RemoveTargets(ctx, &awseb.RemoveTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(b.Name), Ids: []string{"q"}})
			b.Client.DeleteRule(ctx, &awseb.DeleteRuleInput{Name: aws.String(rule), EventBusName: aws.String(b.Name)})
		}
		b.Client.DeleteEventBus(ctx, &awseb.DeleteEventBusInput{Name: aws.String(b.Name)})
		for _, u := range b.queues {
			b.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
	})
	for rule, pattern := range rules {
		q, err := b.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(b.Name + "-" + rule)})
		if err != nil {
			t.Fatalf("create queue: %v", err)
		}
		attrs, err := b.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatalf("queue attributes: %v", err)
		}
		if _, err := b.Client.PutRule(ctx, &awseb.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(b.Name),
			EventPattern: aws.String(pattern), State: ebtypes.RuleStateEnabled}); err != nil {
			t.Fatalf("put rule %s: %v", rule, err)
		}
		arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
		if _, err := b.Client.PutTargets(ctx, &awseb.PutTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(b.Name),
			Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(arn)}}}); err != nil {
			t.Fatalf("put targets %s: %v", rule, err)
		}
		b.queues[rule] = aws.ToString(q.QueueUrl)
	}
	return b
}

// Drain reads rule's queue until it is empty and returns the delivered
// events in arrival order (a duplicate delivery appears twice).
func (b *Bus) Drain(t testing.TB, rule string) []registry.Event {
	t.Helper()
	out := []registry.Event{}
	for _, body := range b.DrainRaw(t, rule) {
		e, err := eventbridge.Decode([]byte(body))
		if err != nil {
			t.Fatalf("queue %s: %v (body %s)", rule, err, body)
		}
		out = append(out, e)
	}
	return out
}

// DrainRaw reads rule's queue until it is empty and returns the message
// bodies in arrival order (for events that are not modelreg's).
func (b *Bus) DrainRaw(t testing.TB, rule string) []string {
	t.Helper()
	ctx := context.Background()
	url, ok := b.queues[rule]
	if !ok {
		t.Fatalf("no rule %q", rule)
	}
	var out []string
	for {
		r, err := b.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("receive %s: %v", rule, err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			out = append(out, aws.ToString(m.Body))
			if _, err := b.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// DrainIDs is Drain's event ids, sorted (duplicates kept).
func (b *Bus) DrainIDs(t testing.TB, rule string) []string {
	t.Helper()
	var ids []string
	for _, e := range b.Drain(t, rule) {
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// Refuser is an HTTP client (an awsapi.Doer) in front of moto that blanks
// the detail-type of the PutEvents entries whose event id (detail.event_id)
// it was given, the first time each is sent, so that moto itself answers
// those entries failed (InvalidArgument) inside an accepted call. It
// records the event ids of every PutEvents request it sends. (moto checks
// no signatures, so the changed body is still accepted.)
type Refuser struct {
	mu    sync.Mutex
	blank map[string]bool
	calls [][]string
}

// NewRefuser returns a Refuser of the events ids.
func NewRefuser(ids ...string) *Refuser {
	r := &Refuser{blank: map[string]bool{}}
	for _, id := range ids {
		r.blank[id] = true
	}
	return r
}

// Do sends req, with the PutEvents entries of the refused events changed.
func (r *Refuser) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("X-Amz-Target") == "AWSEvents.PutEvents" && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if body, err = r.rewrite(body); err != nil {
			return nil, err
		}
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return http.DefaultClient.Do(req)
}

// rewrite blanks the detail-type of the refused entries of a PutEvents
// request body and records the call.
func (r *Refuser) rewrite(body []byte) ([]byte, error) {
	var in struct {
		Entries []map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("ebtest: PutEvents request %s: %w", body, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var call []string
	for _, e := range in.Entries {
		var detail string
		var d eventbridge.Detail
		if err := json.Unmarshal(e["Detail"], &detail); err != nil {
			return nil, fmt.Errorf("ebtest: PutEvents entry detail %s: %w", e["Detail"], err)
		}
		if err := json.Unmarshal([]byte(detail), &d); err != nil {
			return nil, fmt.Errorf("ebtest: PutEvents entry detail %s: %w", detail, err)
		}
		call = append(call, d.EventID)
		if r.blank[d.EventID] {
			delete(r.blank, d.EventID)
			e["DetailType"] = json.RawMessage(`""`)
		}
	}
	r.calls = append(r.calls, call)
	return json.Marshal(in)
}

// Calls returns the event ids of each PutEvents request sent, in order.
func (r *Refuser) Calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}
