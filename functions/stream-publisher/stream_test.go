package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/eventbridge/ebtest"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/streampub"
)

// needEnv returns the variable's value, or skips the test (fails in CI).
func needEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		msg := name + " is not set: run scripts/test, or start DynamoDB Local with scripts/test.d/dynamodb-local.sh and export the line it prints"
		testenv.Missing(t, msg, "the stream tests")
	}
	return v
}

var creds = ebtest.Credentials

// tableStream reads the table's DynamoDB Stream on DynamoDB Local from the
// start of each shard, remembering where it stopped.
type tableStream struct {
	c         *dynamodbstreams.Client
	arn       string
	iterators map[string]*string // shard → next iterator
}

func openStream(t *testing.T, ep, table string) *tableStream {
	t.Helper()
	ctx := context.Background()
	ddb := awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: creds,
		DisableValidateResponseChecksum: true})
	d, err := ddb.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	spec := d.Table.StreamSpecification
	if spec == nil || !aws.ToBool(spec.StreamEnabled) || string(spec.StreamViewType) != string(dynamodb.TableSchema().StreamView) {
		t.Fatalf("table stream %+v: want enabled with view %s (from TableSchema)", spec, dynamodb.TableSchema().StreamView)
	}
	return &tableStream{
		c: dynamodbstreams.New(dynamodbstreams.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: creds,
			RetryMaxAttempts: 3}),
		arn: aws.ToString(d.Table.LatestStreamArn), iterators: map[string]*string{},
	}
}

// read returns every record written to the stream since the last read.
func (s *tableStream) read(t *testing.T) []streamtypes.Record {
	t.Helper()
	ctx := context.Background()
	d, err := s.c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.arn)})
	if err != nil {
		t.Fatalf("describe stream: %v", err)
	}
	var out []streamtypes.Record
	for _, sh := range d.StreamDescription.Shards {
		id := aws.ToString(sh.ShardId)
		it, ok := s.iterators[id]
		if !ok {
			gi, err := s.c.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(s.arn),
				ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatalf("shard iterator: %v", err)
			}
			it = gi.ShardIterator
		}
		for it != nil {
			r, err := s.c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it})
			if err != nil {
				t.Fatalf("get records: %v", err)
			}
			out = append(out, r.Records...)
			s.iterators[id] = r.NextShardIterator
			if len(r.Records) == 0 {
				break
			}
			it = r.NextShardIterator
		}
	}
	return out
}

// lambdaEvent converts stream records into the DynamoDB event Lambda hands
// the function: the records in Lambda's JSON (attribute values in their
// wire form), decoded by aws-lambda-go as the runtime does.
func lambdaEvent(t *testing.T, arn string, recs []streamtypes.Record) events.DynamoDBEvent {
	t.Helper()
	type change struct {
		ApproximateCreationDateTime float64        `json:"ApproximateCreationDateTime"`
		Keys                        map[string]any `json:"Keys"`
		NewImage                    map[string]any `json:"NewImage,omitempty"`
		OldImage                    map[string]any `json:"OldImage,omitempty"`
		SequenceNumber              string         `json:"SequenceNumber"`
		SizeBytes                   int64          `json:"SizeBytes"`
		StreamViewType              string         `json:"StreamViewType"`
	}
	type record struct {
		EventID        string `json:"eventID"`
		EventName      string `json:"eventName"`
		EventVersion   string `json:"eventVersion"`
		EventSource    string `json:"eventSource"`
		AwsRegion      string `json:"awsRegion"`
		Change         change `json:"dynamodb"`
		EventSourceARN string `json:"eventSourceARN"`
	}
	var body struct {
		Records []record `json:"Records"`
	}
	for _, r := range recs {
		d := r.Dynamodb
		c := change{Keys: wireImage(d.Keys), NewImage: wireImage(d.NewImage), OldImage: wireImage(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber), SizeBytes: aws.ToInt64(d.SizeBytes), StreamViewType: string(d.StreamViewType)}
		if d.ApproximateCreationDateTime != nil {
			c.ApproximateCreationDateTime = float64(d.ApproximateCreationDateTime.Unix())
		}
		body.Records = append(body.Records, record{EventID: aws.ToString(r.EventID), EventName: string(r.EventName),
			EventVersion: aws.ToString(r.EventVersion), EventSource: aws.ToString(r.EventSource), AwsRegion: aws.ToString(r.AwsRegion),
			Change: c, EventSourceARN: arn})
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode as Lambda does: %v\n%s", err, b)
	}
	return ev
}

func wireImage(m map[string]streamtypes.AttributeValue) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = wireValue(v)
	}
	return out
}

// wireValue is an attribute value in DynamoDB's JSON wire form.
func wireValue(v streamtypes.AttributeValue) map[string]any {
	b64 := base64.StdEncoding.EncodeToString
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *streamtypes.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *streamtypes.AttributeValueMemberB:
		return map[string]any{"B": b64(v.Value)}
	case *streamtypes.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *streamtypes.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *streamtypes.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *streamtypes.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *streamtypes.AttributeValueMemberBS:
		bs := []string{}
		for _, x := range v.Value {
			bs = append(bs, b64(x))
		}
		return map[string]any{"BS": bs}
	case *streamtypes.AttributeValueMemberL:
		l := []any{}
		for _, x := range v.Value {
			l = append(l, wireValue(x))
		}
		return map[string]any{"L": l}
	case *streamtypes.AttributeValueMemberM:
		return map[string]any{"M": wireImage(v.Value)}
	}
	panic(fmt.Sprintf("attribute value %T", v))
}

func failedSeqs(r events.DynamoDBEventResponse) []string {
	out := []string{}
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func stageEvent(id string, version int, from, to registry.Stage) registry.Event {
	return registry.Event{ID: id, Type: registry.EventStageChanged, Source: registry.EventSource,
		Time:   time.Now().UTC().Truncate(time.Microsecond),
		Detail: registry.EventDetail{Model: "fraud", Version: version, From: from, To: to}}
}

// TestRealStream: changes committed through the DynamoDB store
// (TransactWriteItems) reach DynamoDB Local's stream; its records, handed
// to the function's handler as Lambda hands them, arrive on moto's
// EventBridge exactly once each, matched by the rule patterns; the outbox
// is empty afterwards; the same batch again publishes nothing; and a
// partial PutEvents failure reports exactly that event's record, whose
// retry (Lambda's, from that record on) delivers it once.
func TestRealStream(t *testing.T) {
	ddbURL := needEnv(t, "MODELREG_DYNAMODB_ENDPOINT")
	motoURL := ebtest.Endpoint(t)
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "ci", Role: registry.RoleAdmin})
	bus := ebtest.New(t, motoURL, map[string]string{
		"redeploy": eventbridge.RedeployPattern(), "notify": eventbridge.NotifyPattern(), "all": ebtest.AllPattern,
	})
	table := fmt.Sprintf("modelreg-stream-%d", time.Now().UnixNano())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	api, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: creds}, wire.Service, ddbURL)
	if err != nil {
		t.Fatal(err)
	}
	ddbc := wire.New(api)
	if err := dynamodb.CreateTable(ctx, ddbc, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dynamodb.DeleteTable(context.Background(), ddbc, table) })
	// The bucket is never read by this function: the app only needs its name.
	h, a, err := setup(ctx, app.AWS{
		Config:        &aws.Config{Region: "us-east-1", Credentials: creds},
		DynamoDBTable: table, DynamoDBEndpoint: ddbURL,
		S3Bucket: "never-read", EventBus: bus.Name, EventBridgeEndpoint: motoURL,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	stream := openStream(t, ddbURL, table)

	// Real changes through the service (model created, version registered
	// and moved to Staging), plus a promotion's two stage changes committed
	// straight to the store.
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
		t.Fatal(err)
	}
	v, err := a.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{Source: "s3://models/fraud/1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.Transition(ctx, "fraud", v.Number, registry.StageStaging, "candidate"); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Commit(ctx, &registry.Change{Events: []registry.Event{
		stageEvent("prod-in", 2, registry.StageStaging, registry.StageProduction),
		stageEvent("prod-out", 1, registry.StageProduction, registry.StageArchived),
	}}); err != nil {
		t.Fatal(err)
	}
	pending, err := a.Store.PendingEvents(ctx, time.Now().Add(time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	var all, notify []string
	for _, r := range pending {
		all = append(all, r.Event.ID)
		if slices.Contains(eventbridge.NotifyTypes, r.Event.Type) {
			notify = append(notify, r.Event.ID)
		}
	}
	slices.Sort(all)
	slices.Sort(notify)
	if len(all) < 4 || len(notify) != 3 {
		t.Fatalf("outbox holds %v (notify %v): want the service's events and the two stage changes", all, notify)
	}

	recs := stream.read(t)
	batch := lambdaEvent(t, stream.arn, recs)
	inserts := 0
	for _, r := range batch.Records {
		if r.EventName == "INSERT" {
			inserts++
		}
	}
	if inserts <= len(all) {
		t.Fatalf("the stream has %d INSERT records for %d events: the model and version items are missing", inserts, len(all))
	}
	resp, err := h.Handle(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %v, %v; want no failures", failedSeqs(resp), err)
	}
	if got := bus.DrainIDs(t, "all"); !slices.Equal(got, all) {
		t.Errorf("catch-all rule got %v, want each event once: %v", got, all)
	}
	if got := bus.DrainIDs(t, "redeploy"); !slices.Equal(got, []string{"prod-in"}) {
		t.Errorf("redeploy rule got %v, want [prod-in]", got)
	}
	if got := bus.DrainIDs(t, "notify"); !slices.Equal(got, notify) {
		t.Errorf("notify rule got %v, want %v", got, notify)
	}
	left, err := a.Store.PendingEvents(ctx, time.Now().Add(time.Minute), 100)
	if err != nil || len(left) != 0 {
		t.Fatalf("outbox after the batch: %d records, %v; want every event acked", len(left), err)
	}

	// The same batch again (an at-least-once redelivery), and the acks'
	// REMOVE records the stream now carries: nothing is published.
	removes := lambdaEvent(t, stream.arn, stream.read(t))
	if len(removes.Records) != len(all) || removes.Records[0].EventName != "REMOVE" {
		t.Errorf("after the acks the stream has %d records (first %q), want %d REMOVEs", len(removes.Records), removes.Records[0].EventName, len(all))
	}
	for _, b := range []events.DynamoDBEvent{batch, removes} {
		resp, err := h.Handle(ctx, b)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle of a redelivery = %v, %v", failedSeqs(resp), err)
		}
	}
	if got := bus.DrainIDs(t, "all"); len(got) != 0 {
		t.Errorf("a redelivered batch published %v again", got)
	}

	// A partial PutEvents failure: moto refuses one entry of the call.
	pub, err := eventbridge.New(ebtest.NewClient(t, motoURL, ebtest.NewRefuser("b")), eventbridge.Options{BusName: bus.Name})
	if err != nil {
		t.Fatal(err)
	}
	fh, err := streampub.New(pub, a.Store.(streampub.Outbox), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Commit(ctx, &registry.Change{Events: []registry.Event{
		stageEvent("a", 3, registry.StageNone, registry.StageStaging),
		stageEvent("b", 3, registry.StageStaging, registry.StageProduction),
		stageEvent("c", 2, registry.StageProduction, registry.StageArchived),
	}}); err != nil {
		t.Fatal(err)
	}
	batch = lambdaEvent(t, stream.arn, stream.read(t))
	seqOf := map[string]string{}
	for _, r := range batch.Records {
		var e registry.Event
		json.Unmarshal([]byte(r.Change.NewImage[dynamodb.AttrEvent].String()), &e)
		seqOf[e.ID] = r.Change.SequenceNumber
	}
	resp, err = fh.Handle(ctx, batch)
	if err != nil || !slices.Equal(failedSeqs(resp), []string{seqOf["b"]}) {
		t.Fatalf("Handle with b refused = %v, %v; want exactly b's record %s", failedSeqs(resp), err, seqOf["b"])
	}
	if got := bus.DrainIDs(t, "all"); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("after the partial failure: %v, want [a c]", got)
	}
	// Lambda retries the batch from the first failed record.
	var from int
	for i, r := range batch.Records {
		if r.Change.SequenceNumber == seqOf["b"] {
			from = i
		}
	}
	retry := events.DynamoDBEvent{Records: batch.Records[from:]}
	resp, err = fh.Handle(ctx, retry)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry = %v, %v", failedSeqs(resp), err)
	}
	if got := bus.DrainIDs(t, "all"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after the retry: %v, want [b] (c is not sent twice)", got)
	}
	if got := bus.DrainIDs(t, "redeploy"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("redeploy after the retry: %v, want [b]", got)
	}
	if left, err := a.Store.PendingEvents(ctx, time.Now().Add(time.Minute), 100); err != nil || len(left) != 0 {
		t.Errorf("outbox at the end: %d, %v", len(left), err)
	}
}
