package eventbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// TestGoldenPartialFailure answers a call with a partial failure as the
// PutEvents API reference shapes it (FailedEntryCount, and per entry in
// request order an EventId or an ErrorCode and ErrorMessage): the
// transient failure is sent again alone, the permanent one is named with
// EventBridge's code and message, the accepted one is not sent again.
func TestGoldenPartialFailure(t *testing.T) {
	const partial = `{
  "FailedEntryCount": 2,
  "Entries": [
    {"EventId": "11710aed-b79e-4468-a20b-bb3c0c3b4860"},
    {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Service Error"},
    {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
  ]
}`
	const accepted = `{"FailedEntryCount":0,"Entries":[{"EventId":"d804d26a-88db-4b66-9eaf-9a11c708ae82"}]}`
	f := newFake(t, func(n int, _ putRequest) (int, string) {
		if n == 0 {
			return 200, partial
		}
		return 200, accepted
	})
	p, slept := f.publisher(t, Options{})
	err := p.Publish(context.Background(), events(3, "e"))
	var pe *PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("err %v, want a PublishError", err)
	}
	const want = "eventbridge: 1 event(s) not published: e02 (Model Version Registered) MalformedDetail: Detail is malformed. [permanent]"
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	if f := pe.Failures[0]; f.Code != "MalformedDetail" || f.Message != "Detail is malformed." || !f.Permanent {
		t.Errorf("failure %+v", f)
	}
	if got := f.ids(); !reflect.DeepEqual(got, [][]string{{"e00", "e01", "e02"}, {"e01"}}) {
		t.Errorf("calls %v, want [[e00 e01 e02] [e01]]", got)
	}
	if !reflect.DeepEqual(*slept, []time.Duration{100 * time.Millisecond}) {
		t.Errorf("slept %v, want one 100ms backoff", *slept)
	}
}

// TestGoldenWholeCallError: a refused call (AWS JSON 1.1's error answer,
// __type with its namespace) fails each of its entries with the service's
// code and message, and is not resent by the adapter.
func TestGoldenWholeCallError(t *testing.T) {
	const refused = `{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/api/fn is not authorized to perform: events:PutEvents"}`
	f := newFake(t, func(int, putRequest) (int, string) { return 400, refused })
	p, slept := f.publisher(t, Options{})
	err := p.Publish(context.Background(), events(2, "e"))
	var pe *PublishError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.FailedIDs(), []string{"e00", "e01"}) {
		t.Fatalf("err %v, want e00 and e01", err)
	}
	const msg = "PutEvents: events: AccessDeniedException (HTTP 400): User: arn:aws:sts::123456789012:assumed-role/api/fn is not authorized to perform: events:PutEvents"
	if got := pe.Failures[0]; got.Message != msg || got.Code != "" {
		t.Errorf("failure %+v, want message %q and no entry code", got, msg)
	}
	if len(f.calls) != 1 || len(*slept) != 0 {
		t.Errorf("%d calls, slept %v: a refused call was resent", len(f.calls), *slept)
	}
}

// TestEpochSeconds: Time goes out as the SDK's JSON 1.1 serializer writes
// it, seconds with milliseconds as the fraction, never in exponent form.
func TestEpochSeconds(t *testing.T) {
	for at, want := range map[time.Time]string{
		time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC):             "1772600767",
		time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC):     "1772600767.123",
		time.Date(2026, 3, 4, 5, 6, 7, 5_000_000, time.UTC):     "1772600767.005",
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC):             "0",
		time.Date(2001, 9, 9, 1, 46, 40, 500_000_000, time.UTC): "1000000000.5",
	} {
		b, err := json.Marshal(PutEventsEntry{Time: ptr(EpochSeconds(at))})
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Time json.RawMessage }
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if string(got.Time) != want {
			t.Errorf("%v: Time %s, want %s", at, got.Time, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestPutEventsMatchesSDK: the request body carries the same JSON, Time's
// number included to the millisecond, as the SDK's EventBridge client
// sends for the same entries.
func TestPutEventsMatchesSDK(t *testing.T) {
	f := newFake(t, ok)
	p, _ := f.publisher(t, Options{BusName: "arn:aws:events:us-east-1:123456789012:event-bus/modelreg"})
	evs := events(2, "e")
	evs[0].Time = time.Date(2026, 3, 4, 5, 6, 7, 123_456_789, time.UTC)
	evs[1].Time = time.Time{}
	evs[1].Detail.Reason = `<b>"quoted"</b> & → é`
	if err := p.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	sdk := awseb.New(awseb.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	in := &awseb.PutEventsInput{}
	for _, e := range evs {
		en, _, err := Entry(e, p.opts.BusName)
		if err != nil {
			t.Fatal(err)
		}
		se := ebtypes.PutEventsRequestEntry{EventBusName: aws.String(en.EventBusName), Source: aws.String(en.Source),
			DetailType: aws.String(en.DetailType), Detail: aws.String(en.Detail)}
		if !e.Time.IsZero() {
			se.Time = aws.Time(e.Time)
		}
		in.Entries = append(in.Entries, se)
	}
	if _, err := sdk.PutEvents(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(f.raw) != 2 {
		t.Fatalf("%d calls, want 2", len(f.raw))
	}
	decode := func(s string) any {
		d := json.NewDecoder(bytes.NewReader([]byte(s)))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if ours, sdks := decode(f.raw[0]), decode(f.raw[1]); !reflect.DeepEqual(ours, sdks) {
		t.Errorf("request bodies differ\n ours %s\n  SDK %s", f.raw[0], f.raw[1])
	}
	if !bytes.Contains([]byte(f.raw[0]), []byte(`"Time":1772600767.123`)) {
		t.Errorf("body %s: want Time 1772600767.123", f.raw[0])
	}
}
