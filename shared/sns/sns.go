// Package sns sends notifications as email through an Amazon SNS topic:
// the topic's email subscribers get the plain-text subject and body;
// message attributes (kind, audience, model) let a subscription's filter
// policy pick what it wants.
package sns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// Service is SNS's API, the query protocol (version 2010-03-31).
var Service = awsapi.Service{SigningName: "sns", EndpointPrefix: "sns", EnvName: "SNS"}

// apiVersion is the query protocol's Version of SNS.
const apiVersion = "2010-03-31"

// Limits of a Publish (SNS API Reference, Publish): the subject of an
// email is under 100 characters, one line; a message at most 256 KiB.
const (
	MaxSubject = 99
	MaxMessage = 256 * 1024
)

// Publisher publishes notifications to one topic. It implements
// registry.Notifier.
type Publisher struct {
	api   *awsapi.Client
	topic string
}

var _ registry.Notifier = (*Publisher)(nil)

// New returns a publisher to the topic topicARN through c, a client of
// Service. Invalid without a topic or a client.
func New(c *awsapi.Client, topicARN string) (*Publisher, error) {
	if !strings.HasPrefix(topicARN, "arn:") {
		return nil, registry.Errorf(registry.Invalid, "SNS topic ARN %q: want arn:aws:sns:REGION:ACCOUNT:NAME", topicARN)
	}
	if c == nil {
		return nil, registry.Errorf(registry.Invalid, "SNS topic %s: no client", topicARN)
	}
	return &Publisher{api: c, topic: topicARN}, nil
}

// Notify publishes n: Subject (made one line and cut to MaxSubject
// characters) and Text as the body, with the attributes kind, audience
// and model. It returns an *Error for the caller to retry; a bad
// parameter or an unknown topic is permanent (registry.IsPermanent).
func (p *Publisher) Notify(ctx context.Context, n registry.Notification) error {
	body := n.Text
	if body == "" {
		body = n.Subject
	}
	if len(body) > MaxMessage {
		body = cutBytes(body, MaxMessage-len("\n…")) + "\n…"
	}
	attrs := map[string]string{"kind": string(n.Kind), "audience": string(n.Audience), "model": n.Model}
	if err := p.publish(ctx, publishBody(p.topic, Subject(n.Subject), body, attrs)); err != nil {
		return &Error{Err: err}
	}
	return nil
}

// publishBody is the query protocol's Publish request body: Action,
// Version, TopicArn, Subject, Message and each non-empty attribute of
// attrs as a String MessageAttributes entry, numbered from 1 in name
// order, the keys sorted and form-encoded (as the SDK sends it).
func publishBody(topic, subject, message string, attrs map[string]string) []byte {
	q := url.Values{"Action": {"Publish"}, "Version": {apiVersion}, "TopicArn": {topic}, "Subject": {subject}, "Message": {message}}
	names := make([]string, 0, len(attrs))
	for k, v := range attrs {
		if v != "" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for i, k := range names {
		entry := "MessageAttributes.entry." + strconv.Itoa(i+1)
		q.Set(entry+".Name", k)
		q.Set(entry+".Value.DataType", "String")
		q.Set(entry+".Value.StringValue", attrs[k])
	}
	return []byte(q.Encode())
}

// maxAnswer bounds how much of a Publish answer is read.
const maxAnswer = 64 << 10

// publish sends one Publish request and reads its answer.
func (p *Publisher) publish(ctx context.Context, body []byte) error {
	sum := sha256.Sum256(body)
	resp, err := p.api.Do(ctx, awsapi.Request{
		Method: http.MethodPost, Path: "/",
		Header:        http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}},
		Body:          bytes.NewReader(body),
		GetBody:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
		ContentLength: int64(len(body)),
		PayloadHash:   hex.EncodeToString(sum[:]),
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		XMLName   xml.Name `xml:"PublishResponse"`
		MessageID string   `xml:"PublishResult>MessageId"`
	}
	if err := xml.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&out); err != nil {
		return fmt.Errorf("read the Publish answer: %w", err)
	}
	return nil
}

// Error is a failed Publish.
type Error struct{ Err error }

func (e *Error) Error() string { return fmt.Sprintf("sns publish: %v", e.Err) }

// Unwrap returns the cause: an *awsapi.Error when SNS refused.
func (e *Error) Unwrap() error { return e.Err }

// permanentCodes are SNS's error codes no retry fixes: a parameter it
// refuses, or a topic that does not exist.
var permanentCodes = []string{"InvalidParameter", "ParameterValueInvalid", "NotFound"}

// Permanent reports an error no retry fixes: a parameter SNS refuses or
// a topic that does not exist.
func (e *Error) Permanent() bool { return awsapi.IsCode(e.Err, permanentCodes...) }

// Subject makes s a valid email subject: control characters and line
// breaks become spaces, runs of spaces one, and it is cut to MaxSubject
// characters (ending with "…"). Empty becomes "modelreg".
func Subject(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if out == "" {
		return "modelreg"
	}
	if utf8.RuneCountInString(out) > MaxSubject {
		out = string([]rune(out)[:MaxSubject-1]) + "…"
	}
	return out
}

// cutBytes cuts s to at most n bytes on a rune boundary.
func cutBytes(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
