// Package sns sends notifications as email through an Amazon SNS topic:
// the topic's email subscribers get the plain-text subject and body;
// message attributes (kind, audience, model) let a subscription's filter
// policy pick what it wants.
package sns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/modelreg/modelreg/shared/registry"
)

// Limits of a Publish (SNS API Reference, Publish): the subject of an
// email is under 100 characters, one line; a message at most 256 KiB.
const (
	MaxSubject = 99
	MaxMessage = 256 * 1024
)

// API is the part of the SNS client the publisher calls.
type API interface {
	Publish(ctx context.Context, in *awssns.PublishInput, opts ...func(*awssns.Options)) (*awssns.PublishOutput, error)
}

// Publisher publishes notifications to one topic. It implements
// registry.Notifier.
type Publisher struct {
	api   API
	topic string
}

var _ registry.Notifier = (*Publisher)(nil)

// New returns a publisher to the topic topicARN. Invalid without a topic.
func New(api API, topicARN string) (*Publisher, error) {
	if !strings.HasPrefix(topicARN, "arn:") {
		return nil, registry.Errorf(registry.Invalid, "SNS topic ARN %q: want arn:aws:sns:REGION:ACCOUNT:NAME", topicARN)
	}
	return &Publisher{api: api, topic: topicARN}, nil
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
	attrs := map[string]snstypes.MessageAttributeValue{}
	for k, v := range map[string]string{"kind": string(n.Kind), "audience": string(n.Audience), "model": n.Model} {
		if v != "" {
			attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	_, err := p.api.Publish(ctx, &awssns.PublishInput{
		TopicArn: aws.String(p.topic), Subject: aws.String(Subject(n.Subject)), Message: aws.String(body),
		MessageAttributes: attrs,
	})
	if err != nil {
		return &Error{Err: err}
	}
	return nil
}

// Error is a failed Publish.
type Error struct{ Err error }

func (e *Error) Error() string { return fmt.Sprintf("sns publish: %v", e.Err) }

// Unwrap returns the SDK's error.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports an error no retry fixes: a parameter SNS refuses or
// a topic that does not exist.
func (e *Error) Permanent() bool {
	var inv *snstypes.InvalidParameterException
	var invVal *snstypes.InvalidParameterValueException
	var nf *snstypes.NotFoundException
	return errors.As(e.Err, &inv) || errors.As(e.Err, &invVal) || errors.As(e.Err, &nf)
}

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
