// Package eventbridge is the Amazon EventBridge adapter of registry.Events:
// it publishes domain events to a custom bus with PutEvents, and defines
// the rule patterns (RedeployPattern, NotifyPattern) that the stack and the
// tests share.
//
// On the bus an event is the EventBridge envelope: source "modelreg",
// detail-type the registry event type, time the event's time, and detail
// the registry.EventDetail plus "event_id", the registry event's ID.
// EventBridge gives every entry an id of its own, so consumers must be
// idempotent by detail.event_id (Decode returns it as Event.ID), never by
// the envelope's id.
package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// Service is EventBridge's API: AWS JSON 1.1, target prefix AWSEvents.
var Service = awsapi.Service{SigningName: "events", EndpointPrefix: "events", TargetPrefix: "AWSEvents",
	JSONVersion: "1.1", EnvName: "EVENTBRIDGE"}

// PutEvents limits (EventBridge quotas): at most 10 entries per call, and
// an entry's size — and a request's total — at most 256 KB, counted as
// the API reference's "Calculating PutEvents event entry size" does.
const (
	MaxBatchEntries = 10
	MaxEntrySize    = 256 * 1024
)

// Options configure a Publisher.
type Options struct {
	// BusName is the event bus (name or ARN) every entry goes to. Required.
	BusName string
	// MaxAttempts bounds how often one entry is sent when PutEvents
	// accepts the call but reports the entry failed (FailedEntryCount).
	// Default 4.
	MaxAttempts int
	// Backoff is the wait before retry n (1, 2, …) of the failed
	// entries. Default 100ms doubling, at most 2s.
	Backoff func(n int) time.Duration
	// Sleep waits d or until ctx is done (tests replace it). Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Publisher publishes registry events to one EventBridge bus.
type Publisher struct {
	api  *awsapi.Client
	opts Options
}

var _ registry.Events = (*Publisher)(nil)

// New returns a Publisher sending to opts.BusName through c, a client of
// Service.
func New(c *awsapi.Client, opts Options) (*Publisher, error) {
	if c == nil || strings.TrimSpace(opts.BusName) == "" {
		return nil, errors.New("eventbridge: a client and a bus name are required")
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.Backoff == nil {
		opts.Backoff = func(n int) time.Duration {
			return min(100*time.Millisecond<<min(max(n-1, 0), 5), 2*time.Second)
		}
	}
	if opts.Sleep == nil {
		opts.Sleep = registry.Sleep
	}
	return &Publisher{api: c, opts: opts}, nil
}

// Failure is one event that was not published.
type Failure struct {
	EventID string
	Type    string
	// Code is EventBridge's per-entry ErrorCode, "" when the whole call
	// failed or the event was refused before sending.
	Code    string
	Message string
	// Permanent is true when sending the event again cannot help: it is
	// too large or malformed, or EventBridge refused it as invalid.
	Permanent bool
}

// PublishError reports the events of one Publish that were not published;
// every other event was accepted exactly once by that call.
type PublishError struct {
	Failures []Failure
}

// Error names every failed event with its code and message.
func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eventbridge: %d event(s) not published:", len(e.Failures))
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s (%s)", f.EventID, f.Type)
		if f.Code != "" {
			fmt.Fprintf(&b, " %s", f.Code)
		}
		if f.Message != "" {
			fmt.Fprintf(&b, ": %s", f.Message)
		}
		if f.Permanent {
			b.WriteString(" [permanent]")
		}
	}
	return b.String()
}

// FailedIDs returns the IDs of the events that were not published, in the
// order Publish received them.
func (e *PublishError) FailedIDs() []string {
	ids := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		ids[i] = f.EventID
	}
	return ids
}

// permanentCodes are per-entry error codes that a retry cannot cure.
var permanentCodes = map[string]bool{
	"InvalidArgument": true, "MalformedDetail": true, "ValidationException": true,
	"AccessDeniedException": true, "NotAuthorizedForSourceException": true,
	"NotAuthorizedForDetailTypeException": true,
}

// Detail is the detail of an event on the bus: the registry detail and the
// registry event's ID.
type Detail struct {
	registry.EventDetail
	// EventID is the registry event's ID, what consumers deduplicate by.
	EventID string `json:"event_id"`
}

// PutEventsEntry is one entry of a PutEvents request (the API
// reference's PutEventsRequestEntry, as the adapter fills it).
type PutEventsEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Time         *EpochSeconds `json:",omitempty"`
}

// EpochSeconds is a time as AWS JSON 1.1 sends it: a number of seconds
// since the epoch, milliseconds as its fraction (1772600767.123), as the
// SDK's serializer writes it.
type EpochSeconds time.Time

// MarshalJSON writes the seconds, in plain notation.
func (t EpochSeconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1e3, 'f', -1, 64), nil
}

// putEventsRequest and putEventsResponse are PutEvents' input and output.
type putEventsRequest struct {
	Entries []PutEventsEntry
}

type putEventsResponse struct {
	Entries []struct {
		EventID      string `json:"EventId"`
		ErrorCode    string
		ErrorMessage string
	}
}

// Entry returns the PutEvents entry of e for bus, and its size as
// EventBridge counts it. An event without an ID or type, or with a source
// other than registry.EventSource, is Invalid.
func Entry(e registry.Event, bus string) (PutEventsEntry, int, error) {
	if e.ID == "" || e.Type == "" {
		return PutEventsEntry{}, 0, registry.Errorf(registry.Invalid, "event %q has no ID or type", e.ID)
	}
	if !utf8.ValidString(e.Type) {
		return PutEventsEntry{}, 0, registry.Errorf(registry.Invalid, "event %s: type is not UTF-8", e.ID)
	}
	src := e.Source
	if src == "" {
		src = registry.EventSource
	}
	if src != registry.EventSource {
		return PutEventsEntry{}, 0, registry.Errorf(registry.Invalid, "event %s has source %q, not %q", e.ID, src, registry.EventSource)
	}
	detail, err := json.Marshal(Detail{EventDetail: e.Detail, EventID: e.ID})
	if err != nil {
		return PutEventsEntry{}, 0, registry.Errorf(registry.Invalid, "event %s: detail: %v", e.ID, err)
	}
	en := PutEventsEntry{EventBusName: bus, Source: src, DetailType: e.Type, Detail: string(detail)}
	size := len(src) + len(e.Type) + len(detail)
	if !e.Time.IsZero() {
		t := EpochSeconds(e.Time)
		en.Time = &t
		size += 14
	}
	return en, size, nil
}

// pending is an event still to be sent.
type pending struct {
	index int // in Publish's argument
	event registry.Event
	entry PutEventsEntry
	size  int
}

// Publish sends events in batches of at most MaxBatchEntries entries and
// MaxEntrySize bytes. Entries EventBridge reports failed inside an
// accepted call are sent again alone — never the accepted ones — up to
// MaxAttempts times with Backoff between rounds; permanent failures are
// not retried. A call that fails as a whole (after the client's own retries)
// fails its entries without a resend here. It returns nil when every event was accepted, otherwise a
// *PublishError naming each event that was not (an event too large to ever
// fit, or invalid, is a permanent failure there), so the outbox relay
// defers exactly those.
func (p *Publisher) Publish(ctx context.Context, events []registry.Event) error {
	var failed []indexedFailure
	var todo []pending
	for i, e := range events {
		en, size, err := Entry(e, p.opts.BusName)
		switch {
		case err != nil:
			failed = append(failed, indexedFailure{i, Failure{EventID: e.ID, Type: e.Type, Message: err.Error(), Permanent: true}})
		case size > MaxEntrySize:
			failed = append(failed, indexedFailure{i, Failure{EventID: e.ID, Type: e.Type, Permanent: true,
				Message: fmt.Sprintf("entry is %d bytes, over EventBridge's %d-byte limit", size, MaxEntrySize)}})
		default:
			todo = append(todo, pending{i, e, en, size})
		}
	}
	for attempt := 1; len(todo) > 0; attempt++ {
		if attempt > 1 {
			if err := p.opts.Sleep(ctx, p.opts.Backoff(attempt-1)); err != nil {
				for _, t := range todo {
					failed = append(failed, indexedFailure{t.index, Failure{EventID: t.event.ID, Type: t.event.Type, Message: "not retried: " + err.Error()}})
				}
				break
			}
		}
		var retry []pending
		for _, batch := range batches(todo) {
			for _, r := range p.send(ctx, batch) {
				if r.failure == nil {
					continue
				}
				if r.failure.Permanent || attempt >= p.opts.MaxAttempts || r.wholeCall {
					failed = append(failed, indexedFailure{r.p.index, *r.failure})
				} else {
					retry = append(retry, r.p)
				}
			}
		}
		todo = retry
	}
	if len(failed) == 0 {
		return nil
	}
	sortByIndex(failed)
	pe := &PublishError{Failures: make([]Failure, len(failed))}
	for i, f := range failed {
		pe.Failures[i] = f.f
	}
	return pe
}

type indexedFailure struct {
	index int
	f     Failure
}

func sortByIndex(fs []indexedFailure) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].index < fs[j-1].index; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// batches splits todo into PutEvents calls: at most MaxBatchEntries
// entries and MaxEntrySize bytes each, in order.
func batches(todo []pending) [][]pending {
	var out [][]pending
	var cur []pending
	size := 0
	for _, t := range todo {
		if len(cur) == MaxBatchEntries || (len(cur) > 0 && size+t.size > MaxEntrySize) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += t.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// result is the outcome of one entry of a call; failure is nil when
// EventBridge accepted it.
type result struct {
	p         pending
	failure   *Failure
	wholeCall bool // the call itself failed (the client already retried it)
}

// send makes one PutEvents call for batch.
func (p *Publisher) send(ctx context.Context, batch []pending) []result {
	in := putEventsRequest{Entries: make([]PutEventsEntry, len(batch))}
	for i, b := range batch {
		in.Entries[i] = b.entry
	}
	rs := make([]result, len(batch))
	for i, b := range batch {
		rs[i].p = b
	}
	var out putEventsResponse
	if err := p.api.JSON(ctx, "PutEvents", in, &out); err != nil {
		for i := range rs {
			rs[i].failure = &Failure{EventID: rs[i].p.event.ID, Type: rs[i].p.event.Type, Message: "PutEvents: " + err.Error()}
			rs[i].wholeCall = true
		}
		return rs
	}
	for i := range rs {
		ev := rs[i].p.event
		if i >= len(out.Entries) {
			// EventBridge answers one entry per request entry, in order;
			// an entry it did not answer for is treated as failed.
			rs[i].failure = &Failure{EventID: ev.ID, Type: ev.Type, Message: "no result entry in the PutEvents response"}
			continue
		}
		re := out.Entries[i]
		if re.ErrorCode == "" && re.EventID != "" {
			continue
		}
		rs[i].failure = &Failure{EventID: ev.ID, Type: ev.Type, Code: re.ErrorCode, Message: re.ErrorMessage, Permanent: permanentCodes[re.ErrorCode]}
	}
	return rs
}

// delivered is what a rule target (an SQS queue, a Lambda function)
// receives: the EventBridge envelope with the adapter's Detail.
type delivered struct {
	ID         string          `json:"id"` // EventBridge's id, not the registry event's
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       json.RawMessage `json:"time"`
	Detail     Detail          `json:"detail"`
}

// Decode returns the registry event of an envelope a rule delivered, with
// ID the registry event's ID (detail.event_id). The envelope's time is
// RFC 3339 on AWS (whole seconds) and epoch seconds on moto; both decode.
// Invalid if body is not such an envelope or carries no event_id.
func Decode(body []byte) (registry.Event, error) {
	var d delivered
	if err := json.Unmarshal(body, &d); err != nil {
		return registry.Event{}, registry.Errorf(registry.Invalid, "not an EventBridge event: %v", err)
	}
	if d.Detail.EventID == "" || d.DetailType == "" {
		return registry.Event{}, registry.Errorf(registry.Invalid, "EventBridge event %q has no detail.event_id or detail-type", d.ID)
	}
	var at time.Time
	if len(d.Time) > 0 && string(d.Time) != "null" {
		var secs float64
		if err := json.Unmarshal(d.Time, &at); err != nil {
			if err := json.Unmarshal(d.Time, &secs); err != nil {
				return registry.Event{}, registry.Errorf(registry.Invalid, "EventBridge event %q: time %s is neither RFC 3339 nor epoch seconds", d.ID, d.Time)
			}
			at = time.UnixMilli(int64(math.Round(secs * 1000))).UTC()
		}
	}
	return registry.Event{ID: d.Detail.EventID, Type: d.DetailType, Source: d.Source, Time: at, Detail: d.Detail.EventDetail}, nil
}
