package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// putEntry and putRequest are the PutEvents request as the API reference
// defines it (AWS JSON 1.1).
type putEntry struct {
	Source, DetailType, Detail, EventBusName string
	Time                                     float64
	Resources                                []string
}

type putRequest struct{ Entries []putEntry }

// fakeEB is an httptest server speaking the EventBridge JSON protocol;
// answer gives the status and body of call n (0-based).
type fakeEB struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	raw    []string
	calls  []putRequest
	answer func(n int, req putRequest) (int, string)
}

func newFake(t *testing.T, answer func(n int, req putRequest) (int, string)) *fakeEB {
	f := &fakeEB{t: t, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" ||
			r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Errorf("unexpected request %s %s target %q type %q", r.Method, r.URL, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		var req putRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body %s: %v", body, err)
		}
		f.mu.Lock()
		n := len(f.calls)
		f.raw = append(f.raw, string(body))
		f.calls = append(f.calls, req)
		f.mu.Unlock()
		status, out := f.answer(n, req)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// testClient returns an EventBridge client at endpoint that tries each
// call once.
func testClient(t *testing.T, endpoint string) *awsapi.Client {
	t.Helper()
	c, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("test", "test", ""),
		MaxAttempts: 1}, Service, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// publisher returns a Publisher on f with the client's own retries off and a
// recorded, instant sleep.
func (f *fakeEB) publisher(t *testing.T, opts Options) (*Publisher, *[]time.Duration) {
	client := testClient(t, f.srv.URL)
	var slept []time.Duration
	if opts.BusName == "" {
		opts.BusName = "modelreg-test"
	}
	if opts.Sleep == nil {
		opts.Sleep = func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return ctx.Err() }
	}
	p, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p, &slept
}

// ok answers every entry with an EventId.
func ok(n int, req putRequest) (int, string) {
	return answerEntries(n, req, nil)
}

// answerEntries answers req, failing the entries whose event_id has a code
// in fail ("CODE" or "CODE:message").
func answerEntries(n int, req putRequest, fail map[string]string) (int, string) {
	type entry struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []entry
	}{}
	for i, e := range req.Entries {
		id := eventID(e)
		if c, bad := fail[id]; bad {
			code, msg, _ := strings.Cut(c, ":")
			out.FailedEntryCount++
			out.Entries = append(out.Entries, entry{ErrorCode: code, ErrorMessage: msg})
			continue
		}
		out.Entries = append(out.Entries, entry{EventId: fmt.Sprintf("eb-%d-%d-%s", n, i, id)})
	}
	b, _ := json.Marshal(out)
	return 200, string(b)
}

func eventID(e putEntry) string {
	var d Detail
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		return "undecodable:" + err.Error()
	}
	return d.EventID
}

func (f *fakeEB) ids() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for _, c := range f.calls {
		var ids []string
		for _, e := range c.Entries {
			ids = append(ids, eventID(e))
		}
		out = append(out, ids)
	}
	return out
}

var at = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func events(n int, prefix string) []registry.Event {
	var out []registry.Event
	for i := range n {
		out = append(out, registry.Event{ID: fmt.Sprintf("%s%02d", prefix, i), Type: registry.EventVersionRegistered,
			Source: registry.EventSource, Time: at, Detail: registry.EventDetail{Model: "m", Version: i + 1}})
	}
	return out
}

// TestGoldenPutEvents checks the wire format against the PutEvents API
// reference: the request's Entries and a successful response.
func TestGoldenPutEvents(t *testing.T) {
	const response = `{"Entries":[{"EventId":"11710aed-b79e-4468-a20b-bb3c0c3b4860"}],"FailedEntryCount":0}`
	f := newFake(t, func(int, putRequest) (int, string) { return 200, response })
	p, _ := f.publisher(t, Options{BusName: "modelreg-events"})
	e := registry.Event{ID: "E1", Type: registry.EventStageChanged, Source: registry.EventSource, Time: at,
		Detail: registry.EventDetail{Model: "fraud_model", Version: 7, From: registry.StageStaging, To: registry.StageProduction, Actor: "anna", ApprovalID: "ap-1"}}
	if err := p.Publish(context.Background(), []registry.Event{e}); err != nil {
		t.Fatal(err)
	}
	const want = `{"Entries":[{"Detail":"{\"model\":\"fraud_model\",\"version\":7,\"from\":\"Staging\",\"to\":\"Production\",\"actor\":\"anna\",\"approval_id\":\"ap-1\",\"event_id\":\"E1\"}",` +
		`"DetailType":"Model Version Stage Changed","EventBusName":"modelreg-events","Source":"modelreg","Time":1772600767}]}`
	var got, exp any
	if len(f.raw) != 1 {
		t.Fatalf("%d calls, want 1", len(f.raw))
	}
	if err := json.Unmarshal([]byte(f.raw[0]), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("request body\n got %s\nwant %s", f.raw[0], want)
	}
}

// TestBatchesOfTen: 23 events go out as 10, 10 and 3, in order, each once.
func TestBatchesOfTen(t *testing.T) {
	f := newFake(t, ok)
	p, slept := f.publisher(t, Options{})
	evs := events(23, "e")
	if err := p.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	calls := f.ids()
	if len(calls) != 3 || len(calls[0]) != 10 || len(calls[1]) != 10 || len(calls[2]) != 3 {
		t.Fatalf("calls %v, want 10+10+3 entries", calls)
	}
	var all []string
	for _, c := range calls {
		all = append(all, c...)
	}
	for i, e := range evs {
		if all[i] != e.ID {
			t.Fatalf("entry %d is %s, want %s (order or duplicates)", i, all[i], e.ID)
		}
	}
	if len(*slept) != 0 {
		t.Errorf("slept %v without failures", *slept)
	}
}

// TestBatchesBySize: a call never carries more than 256 KB of entries.
func TestBatchesBySize(t *testing.T) {
	f := newFake(t, ok)
	p, _ := f.publisher(t, Options{})
	evs := events(5, "big")
	for i := range evs {
		evs[i].Detail.Reason = strings.Repeat("x", 100*1024)
	}
	if err := p.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	calls := f.ids()
	if len(calls) != 3 || len(calls[0]) != 2 || len(calls[1]) != 2 || len(calls[2]) != 1 {
		t.Fatalf("calls %v, want 2+2+1 entries", calls)
	}
	for _, c := range f.calls {
		size := 0
		for _, e := range c.Entries {
			size += len(e.Source) + len(e.DetailType) + len(e.Detail) + 14
		}
		if size > MaxEntrySize {
			t.Errorf("a call carries %d bytes", size)
		}
	}
}

// TestOversizedEvent: an event that can never fit is not sent, is named as
// a permanent failure, and does not stop the others.
func TestOversizedEvent(t *testing.T) {
	f := newFake(t, ok)
	p, slept := f.publisher(t, Options{})
	evs := events(3, "e")
	evs[1].Detail.Reason = strings.Repeat("y", MaxEntrySize)
	err := p.Publish(context.Background(), evs)
	var pe *PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("err %v, want a PublishError", err)
	}
	if !reflect.DeepEqual(pe.FailedIDs(), []string{"e01"}) || !pe.Failures[0].Permanent || !strings.Contains(err.Error(), "e01") {
		t.Errorf("failures %+v (%v), want e01 permanent", pe.Failures, err)
	}
	if got := f.ids(); !reflect.DeepEqual(got, [][]string{{"e00", "e02"}}) {
		t.Errorf("calls %v, want [[e00 e02]]", got)
	}
	if len(*slept) != 0 {
		t.Errorf("retried a permanent failure (slept %v)", *slept)
	}
}

// TestPartialFailureRetriesOnlyFailed: entries reported failed inside an
// accepted call are sent again alone; the accepted ones are not sent twice.
func TestPartialFailureRetriesOnlyFailed(t *testing.T) {
	// The response of the first call, as the API reference shows a partial
	// failure: FailedEntryCount and, per entry, EventId or
	// ErrorCode/ErrorMessage, in request order.
	first := map[string]string{"e02": "InternalFailure:Internal Service Error", "e07": "ThrottlingException:Rate exceeded"}
	f := newFake(t, func(n int, req putRequest) (int, string) {
		if n == 0 {
			return answerEntries(n, req, first)
		}
		return ok(n, req)
	})
	p, slept := f.publisher(t, Options{})
	if err := p.Publish(context.Background(), events(12, "e")); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"e00", "e01", "e02", "e03", "e04", "e05", "e06", "e07", "e08", "e09"},
		{"e10", "e11"},
		{"e02", "e07"},
	}
	if got := f.ids(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if !reflect.DeepEqual(*slept, []time.Duration{100 * time.Millisecond}) {
		t.Errorf("slept %v, want one 100ms backoff", *slept)
	}
}

// TestPersistentEntryFailure: an entry that keeps failing is sent
// MaxAttempts times with growing backoff, then named in the error; the
// others are sent once.
func TestPersistentEntryFailure(t *testing.T) {
	f := newFake(t, func(n int, req putRequest) (int, string) {
		return answerEntries(n, req, map[string]string{"e01": "InternalFailure:Internal Service Error"})
	})
	p, slept := f.publisher(t, Options{MaxAttempts: 3})
	err := p.Publish(context.Background(), events(3, "e"))
	var pe *PublishError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.FailedIDs(), []string{"e01"}) || pe.Failures[0].Permanent ||
		pe.Failures[0].Code != "InternalFailure" || !strings.Contains(err.Error(), "e01 (Model Version Registered) InternalFailure: Internal Service Error") {
		t.Fatalf("err %v, want e01 InternalFailure, not permanent", err)
	}
	if got := f.ids(); !reflect.DeepEqual(got, [][]string{{"e00", "e01", "e02"}, {"e01"}, {"e01"}}) {
		t.Errorf("calls %v", got)
	}
	if !reflect.DeepEqual(*slept, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}) {
		t.Errorf("slept %v, want 100ms, 200ms", *slept)
	}
}

// TestPermanentEntryCode: a per-entry validation error is not retried.
func TestPermanentEntryCode(t *testing.T) {
	f := newFake(t, func(n int, req putRequest) (int, string) {
		return answerEntries(n, req, map[string]string{"e00": "MalformedDetail:Detail is malformed."})
	})
	p, slept := f.publisher(t, Options{})
	err := p.Publish(context.Background(), events(2, "e"))
	var pe *PublishError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.FailedIDs(), []string{"e00"}) || !pe.Failures[0].Permanent {
		t.Fatalf("err %v, want e00 permanent", err)
	}
	if len(f.calls) != 1 || len(*slept) != 0 {
		t.Errorf("%d calls, slept %v: a permanent failure was retried", len(f.calls), *slept)
	}
}

// TestWholeCallFailure: when PutEvents itself fails, every event of that
// call is named; other calls' events are still published.
func TestWholeCallFailure(t *testing.T) {
	f := newFake(t, func(n int, req putRequest) (int, string) {
		if n == 1 {
			return 500, `{"__type":"InternalException","message":"Internal error"}`
		}
		return ok(n, req)
	})
	p, _ := f.publisher(t, Options{})
	err := p.Publish(context.Background(), events(12, "e"))
	var pe *PublishError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.FailedIDs(), []string{"e10", "e11"}) || !strings.Contains(err.Error(), "InternalException") {
		t.Fatalf("err %v, want e10 and e11 with InternalException", err)
	}
	if len(f.calls) != 2 {
		t.Errorf("%d calls, want 2 (the client retries a failed call, the adapter does not resend it)", len(f.calls))
	}
}

// TestCanceledDuringBackoff: a canceled context ends the retries and names
// what was not sent.
func TestCanceledDuringBackoff(t *testing.T) {
	f := newFake(t, func(n int, req putRequest) (int, string) {
		return answerEntries(n, req, map[string]string{"e00": "InternalFailure:x"})
	})
	ctx, cancel := context.WithCancel(context.Background())
	p, _ := f.publisher(t, Options{Sleep: func(context.Context, time.Duration) error { cancel(); return context.Canceled }})
	err := p.Publish(ctx, events(2, "e"))
	var pe *PublishError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.FailedIDs(), []string{"e00"}) || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("err %v", err)
	}
	if len(f.calls) != 1 {
		t.Errorf("%d calls after cancel, want 1", len(f.calls))
	}
}

// TestInvalidEvents: events without ID or type, or from another source,
// are refused before sending.
func TestInvalidEvents(t *testing.T) {
	f := newFake(t, ok)
	p, _ := f.publisher(t, Options{})
	evs := events(4, "e")
	evs[0].ID = ""
	evs[1].Type = ""
	evs[2].Source = "aws.sagemaker"
	evs[3].Source = "" // defaults to modelreg
	err := p.Publish(context.Background(), evs)
	var pe *PublishError
	if !errors.As(err, &pe) || len(pe.Failures) != 3 || !pe.Failures[2].Permanent {
		t.Fatalf("err %v, want three permanent failures", err)
	}
	if got := f.ids(); !reflect.DeepEqual(got, [][]string{{"e03"}}) || f.calls[0].Entries[0].Source != registry.EventSource {
		t.Errorf("calls %v", f.calls)
	}
}

func TestNewRequiresBus(t *testing.T) {
	if _, err := New(testClient(t, "http://127.0.0.1:1"), Options{BusName: " "}); err == nil {
		t.Error("New accepted an empty bus name")
	}
	if _, err := New(nil, Options{BusName: "modelreg"}); err == nil {
		t.Error("New accepted no client")
	}
}

// TestDecode: a delivered envelope gives back the published event, keyed
// by the registry event's ID rather than EventBridge's.
func TestDecode(t *testing.T) {
	e := registry.Event{ID: "E9", Type: registry.EventApprovalDecided, Source: registry.EventSource, Time: at,
		Detail: registry.EventDetail{Model: "m", Version: 3, ApprovalID: "ap", Status: "APPROVED", Actor: "bo"}}
	en, _, err := Entry(e, "bus")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Approval Decided","source":"modelreg",` +
		`"account":"123456789012","time":"2026-03-04T05:06:07Z","region":"us-east-1","resources":[],"detail":` + en.Detail + `}`
	got, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got != e {
		t.Errorf("decoded %+v, want %+v", got, e)
	}
	// moto's envelope carries the request's Time, in epoch seconds.
	moto := strings.Replace(body, `"2026-03-04T05:06:07Z"`, `1772600767.0`, 1)
	if got, err := Decode([]byte(moto)); err != nil || got != e {
		t.Errorf("decoded moto's envelope to %+v, %v; want %+v", got, err, e)
	}
	for _, bad := range []string{`{`, `{"detail-type":"Approval Decided","detail":{"model":"m"}}`,
		strings.Replace(body, `"2026-03-04T05:06:07Z"`, `"yesterday"`, 1)} {
		if _, err := Decode([]byte(bad)); registry.ErrorCode(err) != registry.Invalid {
			t.Errorf("Decode(%s) = %v, want Invalid", bad, err)
		}
	}
}

// TestPatterns pins the rule patterns the stack deploys.
func TestPatterns(t *testing.T) {
	if got, want := RedeployPattern(), `{"$or":[{"detail-type":["Model Version Stage Changed"],"detail":{"to":["Production"]}},`+
		`{"detail-type":["Model Deployment Requested"]}],"source":["modelreg"]}`; got != want {
		t.Errorf("redeploy pattern\n got %s\nwant %s", got, want)
	}
	if got, want := SageMakerEndpointPattern("prod-"), `{"detail":{"EndpointName":[{"prefix":"prod-"}]},`+
		`"detail-type":["SageMaker Endpoint State Change"],"source":["aws.sagemaker"]}`; got != want {
		t.Errorf("SageMaker pattern\n got %s\nwant %s", got, want)
	}
	if got, want := SageMakerEndpointPattern(""), `{"detail":{"Tags":{"modelreg:deployment":[{"exists":true}]}},`+
		`"detail-type":["SageMaker Endpoint State Change"],"source":["aws.sagemaker"]}`; got != want {
		t.Errorf("SageMaker pattern without prefix\n got %s\nwant %s", got, want)
	}
	want := `{"source":["modelreg"],"detail-type":["Approval Requested","Approval Decided","Model Version Stage Changed",` +
		`"Model Deployment Started","Model Deployment Succeeded","Model Deployment Failed"]}`
	if got := NotifyPattern(); got != want {
		t.Errorf("notify pattern\n got %s\nwant %s", got, want)
	}
}
