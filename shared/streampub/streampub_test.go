package streampub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/registry"
)

// fakeOutbox is an outbox of event ids.
type fakeOutbox struct {
	in      map[string]bool
	readErr error
	ackErr  map[string]error
	acked   []string
}

func (o *fakeOutbox) EventsInOutbox(_ context.Context, ids []string) (map[string]bool, error) {
	if o.readErr != nil {
		return nil, o.readErr
	}
	m := map[string]bool{}
	for _, id := range ids {
		if o.in[id] {
			m[id] = true
		}
	}
	return m, nil
}

func (o *fakeOutbox) AckEvent(_ context.Context, id string) error {
	if err := o.ackErr[id]; err != nil {
		return err
	}
	delete(o.in, id)
	o.acked = append(o.acked, id)
	return nil
}

// fakeEvents records what it published; err is returned from every call.
type fakeEvents struct {
	calls [][]string
	err   error
}

func (p *fakeEvents) Publish(_ context.Context, evs []registry.Event) error {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	p.calls = append(p.calls, ids)
	return p.err
}

func event(id string) registry.Event {
	return registry.Event{ID: id, Type: registry.EventStageChanged, Source: registry.EventSource,
		Time: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), Detail: registry.EventDetail{Model: "churn", Version: 3, To: registry.StageProduction}}
}

// insert is the stream record of the INSERT of e's outbox item.
func insert(t *testing.T, seq string, e registry.Event) events.DynamoDBEventRecord {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return record("INSERT", seq, map[string]events.DynamoDBAttributeValue{
		"pk": events.NewStringAttribute("EV#" + e.ID), "sk": events.NewStringAttribute("EVENT"),
		"kind": events.NewStringAttribute("event"), "event": events.NewStringAttribute(string(b)),
		"event_id": events.NewStringAttribute(e.ID), "attempts": events.NewNumberAttribute("0"),
	})
}

func record(name, seq string, img map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{EventName: name, EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{SequenceNumber: seq, NewImage: img, StreamViewType: "NEW_IMAGE"}}
}

func failures(r events.DynamoDBEventResponse) []string {
	var s []string
	for _, f := range r.BatchItemFailures {
		s = append(s, f.ItemIdentifier)
	}
	slices.Sort(s)
	return s
}

func newHandler(t *testing.T, p registry.Events, o Outbox) (*Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	h, err := New(p, o, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return h, &logs
}

func TestHandle(t *testing.T) {
	a, b, c := event("A"), event("B"), event("C")
	versionImg := map[string]events.DynamoDBAttributeValue{
		"pk": events.NewStringAttribute("M#churn"), "sk": events.NewStringAttribute("V#0000000003"),
		"kind": events.NewStringAttribute("version"), "event": events.NewStringAttribute("not json"),
	}
	tests := []struct {
		name      string
		records   func(t *testing.T) []events.DynamoDBEventRecord
		outbox    []string // ids in the outbox
		pubErr    error
		ackErr    map[string]error
		published [][]string
		acked     []string
		failed    []string
		log       string
	}{
		{name: "inserts published and acked in stream order",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				return []events.DynamoDBEventRecord{insert(t, "1", a), insert(t, "2", b)}
			},
			outbox: []string{"A", "B"}, published: [][]string{{"A", "B"}}, acked: []string{"A", "B"}},
		{name: "MODIFY, REMOVE and other items ignored",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				mod := insert(t, "1", a)
				mod.EventName = "MODIFY"
				rem := record("REMOVE", "2", nil)
				return []events.DynamoDBEventRecord{mod, rem, record("INSERT", "3", versionImg),
					record("INSERT", "4", map[string]events.DynamoDBAttributeValue{"kind": events.NewNumberAttribute("1")})}
			},
			outbox: []string{"A"}},
		{name: "already delivered (gone from the outbox) skipped",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				return []events.DynamoDBEventRecord{insert(t, "1", a), insert(t, "2", b)}
			},
			outbox: []string{"B"}, published: [][]string{{"B"}}, acked: []string{"B"}, log: "already delivered"},
		{name: "all delivered: nothing published",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				return []events.DynamoDBEventRecord{insert(t, "1", a)}
			}},
		{name: "twice in one batch published once, both records fail together",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				return []events.DynamoDBEventRecord{insert(t, "1", a), insert(t, "2", b), insert(t, "3", a)}
			},
			outbox: []string{"A", "B"}, pubErr: &eventbridge.PublishError{Failures: []eventbridge.Failure{{EventID: "A"}}},
			published: [][]string{{"A", "B"}}, acked: []string{"B"}, failed: []string{"1", "3"}},
		{name: "partial publish failure fails only that record",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				return []events.DynamoDBEventRecord{insert(t, "1", a), insert(t, "2", b), insert(t, "3", c)}
			},
			outbox: []string{"A", "B", "C"}, pubErr: &eventbridge.PublishError{Failures: []eventbridge.Failure{{EventID: "B", Code: "InternalFailure"}}},
			published: [][]string{{"A", "B", "C"}}, acked: []string{"A", "C"}, failed: []string{"2"}, log: "publish failed"},
		{name: "opaque publish error fails every event",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				return []events.DynamoDBEventRecord{insert(t, "1", a), insert(t, "2", b)}
			},
			outbox: []string{"A", "B"}, pubErr: errors.New("connection reset"),
			published: [][]string{{"A", "B"}}, failed: []string{"1", "2"}},
		{name: "failed ack reported",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				return []events.DynamoDBEventRecord{insert(t, "1", a), insert(t, "2", b)}
			},
			outbox: []string{"A", "B"}, ackErr: map[string]error{"A": errors.New("throttled")},
			published: [][]string{{"A", "B"}}, acked: []string{"B"}, failed: []string{"1"}, log: "ack failed"},
		{name: "corrupt outbox records reported and logged, the rest published",
			records: func(t *testing.T) []events.DynamoDBEventRecord {
				bad := insert(t, "1", a)
				bad.Change.NewImage["event"] = events.NewStringAttribute("{not json")
				noEvent := insert(t, "2", a)
				delete(noEvent.Change.NewImage, "event")
				numEvent := insert(t, "3", a)
				numEvent.Change.NewImage["event"] = events.NewNumberAttribute("7")
				noID := insert(t, "4", registry.Event{Type: "x"})
				wrongKey := insert(t, "5", a)
				wrongKey.Change.NewImage["pk"] = events.NewStringAttribute("EV#other")
				return []events.DynamoDBEventRecord{bad, noEvent, numEvent, noID, wrongKey, insert(t, "6", b)}
			},
			outbox: []string{"A", "B"}, published: [][]string{{"B"}}, acked: []string{"B"},
			failed: []string{"1", "2", "3", "4", "5"}, log: "corrupt outbox record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &fakeOutbox{in: map[string]bool{}, ackErr: tt.ackErr}
			for _, id := range tt.outbox {
				o.in[id] = true
			}
			p := &fakeEvents{err: tt.pubErr}
			h, logs := newHandler(t, p, o)
			resp, err := h.Handle(t.Context(), events.DynamoDBEvent{Records: tt.records(t)})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if resp.BatchItemFailures == nil {
				t.Error("BatchItemFailures is nil: Lambda wants a list")
			}
			if got := failures(resp); !slices.Equal(got, tt.failed) {
				t.Errorf("failures %v, want %v", got, tt.failed)
			}
			if !slices.EqualFunc(p.calls, tt.published, slices.Equal) {
				t.Errorf("published %v, want %v", p.calls, tt.published)
			}
			if !slices.Equal(o.acked, tt.acked) {
				t.Errorf("acked %v, want %v", o.acked, tt.acked)
			}
			if tt.log != "" && !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log %q does not say %q", logs, tt.log)
			}
		})
	}
}

// TestHandleRedelivery: a batch delivered again after its first delivery
// publishes nothing twice.
func TestHandleRedelivery(t *testing.T) {
	o := &fakeOutbox{in: map[string]bool{"A": true, "B": true}}
	p := &fakeEvents{}
	h, _ := newHandler(t, p, o)
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{insert(t, "1", event("A")), insert(t, "2", event("B"))}}
	for range 2 {
		if resp, err := h.Handle(t.Context(), batch); err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("Handle: %v %v", resp, err)
		}
	}
	if len(p.calls) != 1 || len(o.acked) != 2 {
		t.Errorf("published %v, acked %v: want one publish of A and B", p.calls, o.acked)
	}
}

func TestHandleOutboxUnreadable(t *testing.T) {
	o := &fakeOutbox{readErr: registry.Errorf(registry.Unavailable, "busy")}
	p := &fakeEvents{}
	h, _ := newHandler(t, p, o)
	_, err := h.Handle(t.Context(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{insert(t, "1", event("A"))}})
	if err == nil || len(p.calls) > 0 {
		t.Errorf("Handle with an unreadable outbox: %v, published %v; want an error and nothing published", err, p.calls)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(nil, &fakeOutbox{}, nil); err == nil {
		t.Error("New without a publisher: no error")
	}
	if _, err := New(&fakeEvents{}, nil, nil); err == nil {
		t.Error("New without an outbox: no error")
	}
}

// TestSampleEvent decodes events/stream-publisher.json into the function's
// exact input type and runs it: the INSERT is published, the REMOVE not.
func TestSampleEvent(t *testing.T) {
	f, err := os.Open("../../events/stream-publisher.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var batch events.DynamoDBEvent
	if err := dec.Decode(&batch); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data after the event: %v", err)
	}
	const id = "01JDZ8Q6V0000000000000001"
	o := &fakeOutbox{in: map[string]bool{id: true}}
	p := &fakeEvents{}
	h, _ := newHandler(t, p, o)
	resp, err := h.Handle(t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("Handle: %v %v", resp, err)
	}
	if len(p.calls) != 1 || !slices.Equal(p.calls[0], []string{id}) || !slices.Equal(o.acked, []string{id}) {
		t.Errorf("published %v, acked %v; want %s", p.calls, o.acked, id)
	}
}
