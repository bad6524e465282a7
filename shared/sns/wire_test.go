package sns

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

const testTopic = "arn:aws:sns:us-east-1:123456789012:modelreg-notify"

// publishOK is the Publish answer of the SNS API Reference's example.
const publishOK = `<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/">
    <PublishResult>
        <MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId>
    </PublishResult>
    <ResponseMetadata>
        <RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId>
    </ResponseMetadata>
</PublishResponse>`

// call is one request the fake SNS received.
type call struct {
	method, path, contentType, auth, body string
}

// fakeSNS answers the requests it records with answer(n) (status, body).
type fakeSNS struct {
	mu    sync.Mutex
	calls []call
	srv   *httptest.Server
}

func newFakeSNS(t *testing.T, answer func(n int) (int, string)) *fakeSNS {
	f := &fakeSNS{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.calls)
		f.calls = append(f.calls, call{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)})
		f.mu.Unlock()
		status, out := answer(n)
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-RequestId", "9dd01905-5012-5f99-8663-4b3ecd0dfaef")
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSNS) publisher(t *testing.T) *Publisher {
	t.Helper()
	c, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("test", "test", "")}, Service, f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(c, testTopic)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var wireNote = registry.Notification{
	Kind: registry.NotifyApprovalRequested, Audience: registry.AudienceApprovers, Model: "fraud_model",
	Subject: "[modelreg] fraud_model v2\nok", Text: "a & b = c+d → é\n",
}

// TestPublishRequest: Notify sends the query protocol's Publish (SNS API
// Reference, Publish; AWS query protocol): a signed form POST to / with
// Action, Version, TopicArn, Subject, Message and the attributes as
// MessageAttributes.entry.N, keys sorted and form-encoded.
func TestPublishRequest(t *testing.T) {
	f := newFakeSNS(t, func(int) (int, string) { return 200, publishOK })
	if err := f.publisher(t).Notify(context.Background(), wireNote); err != nil {
		t.Fatal(err)
	}
	const want = "Action=Publish" +
		"&Message=a+%26+b+%3D+c%2Bd+%E2%86%92+%C3%A9%0A" +
		"&MessageAttributes.entry.1.Name=audience&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=approvers" +
		"&MessageAttributes.entry.2.Name=kind&MessageAttributes.entry.2.Value.DataType=String&MessageAttributes.entry.2.Value.StringValue=approval_requested" +
		"&MessageAttributes.entry.3.Name=model&MessageAttributes.entry.3.Value.DataType=String&MessageAttributes.entry.3.Value.StringValue=fraud_model" +
		"&Subject=%5Bmodelreg%5D+fraud_model+v2+ok" +
		"&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Amodelreg-notify" +
		"&Version=2010-03-31"
	if len(f.calls) != 1 {
		t.Fatalf("%d calls, want 1", len(f.calls))
	}
	c := f.calls[0]
	if c.method != http.MethodPost || c.path != "/" || c.contentType != "application/x-www-form-urlencoded; charset=utf-8" {
		t.Errorf("request %s %s (%s), want a form POST to /", c.method, c.path, c.contentType)
	}
	if !strings.HasPrefix(c.auth, "AWS4-HMAC-SHA256 Credential=test/") || !strings.Contains(c.auth, "/us-east-1/sns/aws4_request") {
		t.Errorf("Authorization %q: want SigV4 for sns in us-east-1", c.auth)
	}
	if c.body != want {
		t.Errorf("body\n got %s\nwant %s", c.body, want)
	}

	// Empty attributes are left out and the entries stay numbered from 1.
	n := wireNote
	n.Model, n.Audience = "", ""
	if err := f.publisher(t).Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if b := f.calls[1].body; !strings.Contains(b, "&MessageAttributes.entry.1.Name=kind&") || strings.Contains(b, "entry.2") {
		t.Errorf("body without model and audience: %s", b)
	}
}

// TestPublishRequestMatchesSDK: the body is byte for byte what the SDK's
// SNS client sends for the same Publish.
func TestPublishRequestMatchesSDK(t *testing.T) {
	f := newFakeSNS(t, func(int) (int, string) { return 200, publishOK })
	if err := f.publisher(t).Notify(context.Background(), wireNote); err != nil {
		t.Fatal(err)
	}
	sdk := awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	str := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if _, err := sdk.Publish(context.Background(), &awssns.PublishInput{TopicArn: aws.String(testTopic),
		Subject: aws.String(Subject(wireNote.Subject)), Message: aws.String(wireNote.Text),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"kind": str("approval_requested"), "audience": str("approvers"), "model": str("fraud_model")},
	}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 2 || f.calls[0].body != f.calls[1].body {
		t.Errorf("bodies differ\n ours %s\n  SDK %s", f.calls[0].body, f.calls[1].body)
	}
}

// TestPublishErrors: SNS's error answers (the query protocol's
// ErrorResponse) become an *Error with SNS's code; a missing topic or a
// refused parameter is permanent and sent once, throttling is retried
// with the same body, and a 200 that is no PublishResponse is an error.
func TestPublishErrors(t *testing.T) {
	errorResponse := func(typ, code, msg string) string {
		return `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <Error>
    <Type>` + typ + `</Type>
    <Code>` + code + `</Code>
    <Message>` + msg + `</Message>
  </Error>
  <RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId>
</ErrorResponse>`
	}
	for _, tc := range []struct {
		name      string
		answers   []string // status:body, one per try
		code      string   // "" for success
		permanent bool
		calls     int
	}{
		{"missing topic", []string{"404:" + errorResponse("Sender", "NotFound", "Topic does not exist")}, "NotFound", true, 1},
		{"invalid parameter", []string{"400:" + errorResponse("Sender", "InvalidParameter", "Invalid parameter: Subject")}, "InvalidParameter", true, 1},
		{"invalid value", []string{"400:" + errorResponse("Sender", "ParameterValueInvalid", "Message too long")}, "ParameterValueInvalid", true, 1},
		{"denied", []string{"403:" + errorResponse("Sender", "AuthorizationError", "User is not authorized to perform: SNS:Publish")}, "AuthorizationError", false, 1},
		{"throttled, then published", []string{"400:" + errorResponse("Sender", "Throttling", "Rate exceeded"), "200:" + publishOK}, "", false, 2},
		{"internal error throughout", []string{"500:" + errorResponse("Receiver", "InternalError", "Internal error")}, "InternalError", false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSNS(t, func(n int) (int, string) {
				a := tc.answers[min(n, len(tc.answers)-1)]
				status, body, _ := strings.Cut(a, ":")
				code, err := strconv.Atoi(status)
				if err != nil {
					t.Errorf("answer %q", a)
				}
				return code, body
			})
			err := f.publisher(t).Notify(context.Background(), wireNote)
			if len(f.calls) != tc.calls {
				t.Errorf("%d calls, want %d", len(f.calls), tc.calls)
			}
			for i, c := range f.calls {
				if c.body != f.calls[0].body {
					t.Errorf("try %d sent %q, not the first try's body", i+1, c.body)
				}
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || awsapi.Code(err) != tc.code || registry.IsPermanent(err) != tc.permanent {
				t.Fatalf("Notify = %v (code %q, permanent %v), want an *Error with %s, permanent %v",
					err, awsapi.Code(err), registry.IsPermanent(err), tc.code, tc.permanent)
			}
			if !strings.HasPrefix(err.Error(), "sns publish: sns: "+tc.code) {
				t.Errorf("message %q", err)
			}
		})
	}

	f := newFakeSNS(t, func(int) (int, string) { return 200, "<html>captive portal</html>" })
	if err := f.publisher(t).Notify(context.Background(), wireNote); err == nil || registry.IsPermanent(err) {
		t.Errorf("Notify on a 200 that is no PublishResponse = %v, want a transient error", err)
	}
}
