package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/workflow"
)

// assetDir is a build directory with a file per function: synthesis only
// hashes and copies the assets, so their content does not matter here
// (the function tests run the real binaries).
func assetDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(tmpRoot, "build")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range FunctionNames {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "bootstrap"), []byte(n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tmpRoot holds what synthesis writes (cdk-nag's reports land there after
// the test that synthesized has ended, so not in a t.TempDir).
var tmpRoot string

func TestMain(m *testing.M) {
	var err error
	if tmpRoot, err = os.MkdirTemp("", "infra-test"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmpRoot)
	os.Exit(code)
}

type synthesized struct {
	stack    *Stack
	template assertions.Template
	res      map[string]map[string]any // logical id → resource
}

func (s *synthesized) ofType(typ string) map[string]map[string]any {
	m := map[string]map[string]any{}
	for id, r := range s.res {
		if r["Type"] == typ {
			m[id] = r
		}
	}
	return m
}

func props(r map[string]any) map[string]any { p, _ := r["Properties"].(map[string]any); return p }

var (
	defaultOnce sync.Once
	defaultSyn  *synthesized
)

// synth synthesizes the stack from c with cdk-nag's checks applied.
func synth(t *testing.T, c Config) *synthesized {
	t.Helper()
	out, err := os.MkdirTemp(tmpRoot, "cdk.out")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	st := NewStack(app, c)
	Nag(app, st)
	tpl := assertions.Template_FromStack(st.Stack, nil)
	b, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]map[string]any
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return &synthesized{stack: st, template: tpl, res: doc.Resources}
}

// configured is the stack with a representative configuration.
func configured(t *testing.T) *synthesized {
	defaultOnce.Do(func() {
		c := DefaultConfig()
		c.BuildDir = assetDir(t)
		c.SageMakerPrefix = "churn-"
		c.SageMakerRoles = []string{"arn:aws:iam::123456789012:role/SageMakerExec"}
		c.CORSOrigins = []string{"https://registry.example.com"}
		c.Roles = map[string]RoleMapping{"arn:aws:iam::123456789012:role/Approvers": {Role: "approver", Groups: []string{"ml"}}}
		c.NotifyEmails = []string{"ml-team@example.com"}
		defaultSyn = synth(t, c)
	})
	if defaultSyn == nil {
		t.Fatal("synthesis failed in an earlier test")
	}
	return defaultSyn
}

func TestResourceCounts(t *testing.T) {
	s := configured(t)
	for typ, n := range map[string]int{
		"AWS::DynamoDB::Table": 1, "AWS::S3::Bucket": 2, "AWS::Lambda::Function": 11,
		"AWS::StepFunctions::StateMachine": 1, "AWS::Events::EventBus": 1, "AWS::Events::Rule": 5,
		"AWS::SQS::Queue": 6, "AWS::SNS::Topic": 2, "AWS::SecretsManager::Secret": 2, "AWS::KMS::Key": 2,
		"AWS::ApiGatewayV2::Api": 1, "AWS::ApiGatewayV2::Stage": 1, "AWS::Lambda::EventSourceMapping": 1,
		"AWS::ApiGatewayV2::Route": 5 + 12, "AWS::ApiGatewayV2::Integration": 2, "AWS::CloudWatch::Alarm": 6 + 11 + 3, "AWS::SNS::Subscription": 1,
	} {
		s.template.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n)))
	}
}

// TestTable: the table is shared/dynamodb's schema, retained under its
// pinned logical id, with PITR, deletion protection, stream and TTL.
func TestTable(t *testing.T) {
	s := configured(t)
	r, ok := s.res[TableLogicalID]
	if !ok || r["Type"] != "AWS::DynamoDB::Table" {
		t.Fatalf("no table under the pinned logical id %s", TableLogicalID)
	}
	if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("table policies %v/%v, want Retain", r["DeletionPolicy"], r["UpdateReplacePolicy"])
	}
	p := props(r)
	schema := dynamodb.TableSchema()
	var want []any
	for _, ix := range schema.Indexes {
		want = append(want, map[string]any{"IndexName": ix.Name, "KeySchema": []any{
			map[string]any{"AttributeName": ix.PartitionKey, "KeyType": "HASH"},
			map[string]any{"AttributeName": ix.SortKey, "KeyType": "RANGE"}},
			"Projection": map[string]any{"ProjectionType": "KEYS_ONLY"}})
	}
	if got := p["GlobalSecondaryIndexes"]; !reflect.DeepEqual(got, want) {
		t.Errorf("GSIs differ from dynamodb.TableSchema:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(p["KeySchema"], []any{map[string]any{"AttributeName": schema.PartitionKey, "KeyType": "HASH"},
		map[string]any{"AttributeName": schema.SortKey, "KeyType": "RANGE"}}) {
		t.Errorf("key schema %v", p["KeySchema"])
	}
	checks := map[string]any{
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"DeletionProtectionEnabled":        true,
		"StreamSpecification":              map[string]any{"StreamViewType": string(schema.StreamView)},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": schema.TTLAttribute, "Enabled": true},
		"BillingMode":                      "PAY_PER_REQUEST",
	}
	for k, v := range checks {
		if !reflect.DeepEqual(p[k], v) {
			t.Errorf("table %s = %v, want %v", k, p[k], v)
		}
	}
}

// TestBucket: the artifact bucket under its pinned logical id: retained,
// private, versioned, encrypted, TLS only, lifecycle rules and CORS.
func TestBucket(t *testing.T) {
	s := configured(t)
	r, ok := s.res[BucketLogicalID]
	if !ok || r["Type"] != "AWS::S3::Bucket" {
		t.Fatalf("no bucket under the pinned logical id %s", BucketLogicalID)
	}
	if r["DeletionPolicy"] != "Retain" {
		t.Errorf("bucket DeletionPolicy %v", r["DeletionPolicy"])
	}
	p := props(r)
	if !reflect.DeepEqual(p["PublicAccessBlockConfiguration"], map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true,
		"IgnorePublicAcls": true, "RestrictPublicBuckets": true}) {
		t.Errorf("public access block %v", p["PublicAccessBlockConfiguration"])
	}
	if !reflect.DeepEqual(p["VersioningConfiguration"], map[string]any{"Status": "Enabled"}) {
		t.Errorf("versioning %v", p["VersioningConfiguration"])
	}
	if p["BucketEncryption"] == nil || p["LoggingConfiguration"] == nil {
		t.Error("no encryption or access logging")
	}
	rules, _ := p["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)
	byID := map[string]map[string]any{}
	for _, r := range rules {
		m := r.(map[string]any)
		byID[m["Id"].(string)] = m
	}
	if v := byID["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]; !reflect.DeepEqual(v, map[string]any{"DaysAfterInitiation": float64(7)}) {
		t.Errorf("abort rule %v", v)
	}
	if m := byID["expire-upload-scratch"]; m["Prefix"] != "models/.uploads/" || m["ExpirationInDays"] != float64(7) {
		t.Errorf("scratch rule %v", m)
	}
	if m := byID["expire-noncurrent-versions"]; !reflect.DeepEqual(m["NoncurrentVersionExpiration"], map[string]any{"NoncurrentDays": float64(30)}) {
		t.Errorf("noncurrent rule %v", m)
	}
	cors, _ := p["CorsConfiguration"].(map[string]any)["CorsRules"].([]any)
	if len(cors) != 1 || !reflect.DeepEqual(cors[0].(map[string]any)["AllowedOrigins"], []any{"https://registry.example.com"}) {
		t.Errorf("CORS %v", cors)
	}
	// TLS only: the bucket policy denies aws:SecureTransport=false.
	s.template.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
		"Bucket": map[string]any{"Ref": BucketLogicalID},
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Effect": "Deny", "Action": "s3:*", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		})})},
	})
}

// TestNoncurrentDaysConfigurable: the noncurrent expiry follows the setting.
func TestNoncurrentDaysConfigurable(t *testing.T) {
	c := DefaultConfig()
	c.BuildDir = assetDir(t)
	c.NoncurrentVersionDays = 90
	s := synth(t, c)
	s.template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Id": "expire-noncurrent-versions", "NoncurrentVersionExpiration": map[string]any{"NoncurrentDays": 90}})})},
	})
	if _, ok := props(s.res[BucketLogicalID])["CorsConfiguration"]; ok {
		t.Error("CORS without configured origins")
	}
}

// joinDefinition renders a DefinitionString's Fn::Join, each GetAtt ARN as
// "arn:<logical id>".
func joinDefinition(t *testing.T, v any) string {
	t.Helper()
	return renderDefinition(t, v, func(id string) string { return "arn:" + id })
}

// renderDefinition renders a DefinitionString's Fn::Join, each GetAtt ARN
// of the resource with logical id id as arn(id).
func renderDefinition(t *testing.T, v any, arn func(id string) string) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	parts := v.(map[string]any)["Fn::Join"].([]any)[1].([]any)
	var b strings.Builder
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		case map[string]any:
			ga := p["Fn::GetAtt"].([]any)
			if ga[1] != "Arn" {
				t.Fatalf("unexpected token %v", p)
			}
			b.WriteString(arn(ga[0].(string)))
		default:
			t.Fatalf("unexpected part %v", p)
		}
	}
	return b.String()
}

// TestStateMachineDefinition: the definition is the embedded ASL with each
// placeholder replaced by its own task function's ARN.
func TestStateMachineDefinition(t *testing.T) {
	s := configured(t)
	sms := s.ofType("AWS::StepFunctions::StateMachine")
	if len(sms) != 1 {
		t.Fatalf("%d state machines", len(sms))
	}
	var sm map[string]any
	for _, r := range sms {
		sm = props(r)
	}
	got := joinDefinition(t, sm["DefinitionString"])
	values := map[string]string{}
	for p, id := range map[string]string{workflow.ValidateFunctionArn: "Validate", workflow.RequestApprovalFunctionArn: "RequestApproval",
		workflow.PromoteFunctionArn: "Promote", workflow.RecordOutcomeFunctionArn: "RecordOutcome"} {
		fn := s.stack.Functions[id]
		values[p] = "arn:" + *s.stack.GetLogicalId(fn.Node().DefaultChild().(awscdk.CfnElement))
		env := props(s.res[strings.TrimPrefix(values[p], "arn:")])["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env[EnvTask] != strings.TrimSuffix(strings.Trim(p, "${}"), "FunctionArn") {
			t.Errorf("%s runs task %v", id, env[EnvTask])
		}
	}
	want, err := workflow.Substitute(values)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("definition differs from the substituted ASL:\n got %s\nwant %s", got, want)
	}
	if sm["TracingConfiguration"].(map[string]any)["Enabled"] != true || sm["LoggingConfiguration"].(map[string]any)["Level"] != "ALL" {
		t.Errorf("tracing/logging %v %v", sm["TracingConfiguration"], sm["LoggingConfiguration"])
	}
}

// actions collects every IAM "Action" value in v.
func actions(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "Action" || k == "NotAction" {
				switch a := x.(type) {
				case string:
					*out = append(*out, a)
				case []any:
					for _, s := range a {
						*out = append(*out, s.(string))
					}
				}
				continue
			}
			actions(x, out)
		}
	case []any:
		for _, x := range v {
			actions(x, out)
		}
	}
}

// TestNoWildcardActions: no policy anywhere in the template allows "*" or
// a whole service ("s3:*"), except the TLS-only deny statements.
func TestNoWildcardActions(t *testing.T) {
	s := configured(t)
	var all []string
	for id, r := range s.res {
		var acts []string
		if r["Type"] == "AWS::S3::BucketPolicy" || r["Type"] == "AWS::SQS::QueuePolicy" || r["Type"] == "AWS::SNS::TopicPolicy" {
			// Only Deny statements may name a whole service (TLS only).
			for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				if st.(map[string]any)["Effect"] == "Allow" {
					actions(st, &acts)
				}
			}
		} else {
			actions(r, &acts)
		}
		for _, a := range acts {
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("%s allows %q", id, a)
			}
		}
		all = append(all, acts...)
	}
	if len(all) < 20 {
		t.Fatalf("found only %d actions: the walk is broken", len(all))
	}
}

// statements returns the Allow statements of the inline policies of the
// role of function id.
func statements(t *testing.T, s *synthesized, id string) []map[string]any {
	t.Helper()
	fn := s.stack.Functions[id]
	fnID := *s.stack.GetLogicalId(fn.Node().DefaultChild().(awscdk.CfnElement))
	roleRef := props(s.res[fnID])["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0]
	var out []map[string]any
	for _, r := range s.ofType("AWS::IAM::Policy") {
		for _, role := range props(r)["Roles"].([]any) {
			if reflect.DeepEqual(role, map[string]any{"Ref": roleRef}) {
				for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					out = append(out, st.(map[string]any))
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no policy statements for %s", id)
	}
	return out
}

func resourcesOf(st map[string]any) []string {
	b, _ := json.Marshal(st["Resource"])
	return []string{string(b)}
}

func hasAction(st map[string]any, prefix string) bool {
	var acts []string
	actions(st, &acts)
	return slices.ContainsFunc(acts, func(a string) bool { return strings.HasPrefix(a, prefix) })
}

// TestIAMScoping: S3 access only under the artifact prefix; SageMaker only
// on prefixed names; PassRole only for the listed role, to SageMaker; the
// bus, table and state machine by their own ARNs.
func TestIAMScoping(t *testing.T) {
	s := configured(t)
	for id := range s.stack.Functions {
		for _, st := range statements(t, s, id) {
			res := strings.Join(resourcesOf(st), " ")
			var acts []string
			actions(st, &acts)
			for _, a := range acts {
				svc := a[:strings.Index(a, ":")]
				switch svc {
				case "s3":
					if !strings.Contains(res, "/models/*") && !strings.HasPrefix(a, "s3:List") && !strings.HasPrefix(a, "s3:GetBucket") {
						t.Errorf("%s: %s on %s, outside the artifact prefix", id, a, res)
					}
				case "sagemaker":
					if strings.Count(res, "churn-*") != 3 || strings.Contains(res, `"*"`) {
						t.Errorf("%s: %s on %s, not only churn-* names", id, a, res)
					}
				case "iam":
					if a != "iam:PassRole" || res != `"arn:aws:iam::123456789012:role/SageMakerExec"` ||
						!reflect.DeepEqual(st["Condition"], map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "sagemaker.amazonaws.com"}}) {
						t.Errorf("%s: %s on %s with %v", id, a, res, st["Condition"])
					}
				case "dynamodb":
					if !strings.Contains(res, TableLogicalID) && a != "dynamodb:ListStreams" {
						t.Errorf("%s: %s on %s, not the table", id, a, res)
					}
				case "events":
					if a != "events:PutEvents" || !strings.Contains(res, "EventsBus") {
						t.Errorf("%s: %s on %s, not the bus", id, a, res)
					}
				case "states":
					if !strings.Contains(res, "WorkflowPromotion") && !strings.HasSuffix(res, `:stateMachine:modelreg-promotion"]]}`) {
						t.Errorf("%s: %s on %s, not the state machine", id, a, res)
					}
				case "sqs":
					if a != "sqs:SendMessage" && a != "sqs:GetQueueAttributes" && a != "sqs:GetQueueUrl" || !strings.Contains(res, "DLQ") {
						t.Errorf("%s: %s on %s, not its dead-letter queue", id, a, res)
					}
				case "xray":
					// X-Ray has no resource-level permissions (cdk-nag suppression in nag.go).
				case "logs", "kms", "secretsmanager", "lambda", "sns":
					if strings.Contains(res, `"*"`) {
						t.Errorf("%s: %s on *", id, a)
					}
				default:
					t.Errorf("%s: unexpected action %s", id, a)
				}
			}
		}
	}
	redeploy := statements(t, s, "Redeploy")
	if !slices.ContainsFunc(redeploy, func(st map[string]any) bool { return hasAction(st, "iam:PassRole") }) {
		t.Error("redeploy may not pass the SageMaker role")
	}
	for _, id := range []string{"Api", "Console", "Notify", "Sweeper", "StreamPublisher"} {
		if slices.ContainsFunc(statements(t, s, id), func(st map[string]any) bool { return hasAction(st, "sagemaker:") || hasAction(st, "iam:") }) {
			t.Errorf("%s may call SageMaker or IAM", id)
		}
	}
}

// TestNoPassRoleWithoutRoles: no configured roles, no iam:PassRole.
func TestNoPassRoleWithoutRoles(t *testing.T) {
	c := DefaultConfig()
	c.BuildDir = assetDir(t)
	s := synth(t, c)
	if slices.ContainsFunc(statements(t, s, "Redeploy"), func(st map[string]any) bool { return hasAction(st, "iam:PassRole") }) {
		t.Error("iam:PassRole granted with no roles configured")
	}
}

// TestRoutes: the IAM authorizer guards every /v1 and MLflow route but the
// health check and the OpenAPI document, and the api function serves
// them; the console's routes (the paths shared/console serves: pages,
// sign-in, static files) are open and the console function serves them;
// nothing else is routed, and API Gateway may invoke exactly the two.
func TestRoutes(t *testing.T) {
	s := configured(t)
	got := map[string]string{}
	for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
		got[props(r)["RouteKey"].(string)] = props(r)["AuthorizationType"].(string)
	}
	want := map[string]string{
		"GET /v1/health": "NONE", "GET /v1/openapi.json": "NONE", "ANY /v1/{proxy+}": "AWS_IAM",
		"ANY /api/2.0/mlflow/{proxy+}": "AWS_IAM", "ANY /api/2.0/mlflow-artifacts/{proxy+}": "AWS_IAM",
		"GET /": "NONE", "GET /static/{proxy+}": "NONE",
		"GET /login": "NONE", "POST /login": "NONE", "GET /login/{proxy+}": "NONE", "POST /logout": "NONE",
		"GET /models": "NONE", "GET /models/{proxy+}": "NONE", "POST /models/{proxy+}": "NONE",
		"GET /approvals": "NONE", "GET /approvals/{proxy+}": "NONE", "POST /approvals/{proxy+}": "NONE",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes %v, want %v", got, want)
	}
	// Every console request the console's own mux serves finds an open
	// route (API Gateway's {proxy+} matches one or more segments), and no
	// /v1 or MLflow request but health and the OpenAPI document does.
	// API Gateway prefers an exact path, then the longest greedy one.
	match := func(method, path string) (string, bool) {
		auth, best := "", -1
		for key, a := range got {
			m, p, _ := strings.Cut(key, " ")
			if m != "ANY" && m != method {
				continue
			}
			if base, ok := strings.CutSuffix(p, "{proxy+}"); ok {
				if rest, ok := strings.CutPrefix(path, base); ok && rest != "" && len(base) > best {
					auth, best = a, len(base)
				}
			} else if p == path {
				return a, true
			}
		}
		return auth, best >= 0
	}
	for _, c := range []struct{ method, path, auth string }{
		{"GET", "/", "NONE"}, {"GET", "/static/console.css", "NONE"}, {"GET", "/login", "NONE"}, {"POST", "/login", "NONE"},
		{"GET", "/login/oidc", "NONE"}, {"GET", "/login/callback", "NONE"}, {"POST", "/logout", "NONE"},
		{"GET", "/models", "NONE"}, {"GET", "/models/fraud", "NONE"}, {"GET", "/models/fraud/versions/3/download", "NONE"},
		{"POST", "/models/fraud/versions/3/transition", "NONE"}, {"POST", "/models/fraud/rollback", "NONE"},
		{"GET", "/approvals", "NONE"}, {"GET", "/approvals/01AP", "NONE"}, {"POST", "/approvals/01AP/decide", "NONE"},
		{"GET", "/v1/health", "NONE"}, {"GET", "/v1/models", "AWS_IAM"}, {"POST", "/v1/models/fraud/versions", "AWS_IAM"},
		{"GET", "/v1/openapi.json", "NONE"}, {"POST", "/api/2.0/mlflow/runs/create", "AWS_IAM"},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/1/run/model.pkl", "AWS_IAM"},
	} {
		if auth, ok := match(c.method, c.path); !ok || auth != c.auth {
			t.Errorf("%s %s: routed %v with %q, want %q", c.method, c.path, ok, auth, c.auth)
		}
	}
	for _, c := range []struct{ method, path string }{{"POST", "/"}, {"DELETE", "/models/fraud"}, {"GET", "/blobs/x"}, {"GET", "/console/models"}} {
		if auth, ok := match(c.method, c.path); ok {
			t.Errorf("%s %s is routed (%s)", c.method, c.path, auth)
		}
	}
	// Each route's integration invokes its function, with payload 2.0.
	integrations := map[string]string{} // integration logical id → function logical id
	for id, r := range s.ofType("AWS::ApiGatewayV2::Integration") {
		p := props(r)
		if p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" {
			t.Errorf("integration %s: %v %v", id, p["IntegrationType"], p["PayloadFormatVersion"])
		}
		integrations[id] = p["IntegrationUri"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	}
	apiFn, consoleFn := logicalID(s, "Api"), logicalID(s, "Console")
	served := map[string]string{} // route key → function logical id
	for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
		p := props(r)
		target := render(t, p["Target"]) // integrations/<id>
		served[p["RouteKey"].(string)] = integrations[strings.TrimSuffix(strings.TrimPrefix(target, "integrations/<"), ">")]
	}
	// The /v1 and MLflow paths go to the api, every other (the console's)
	// to the console.
	for k := range want {
		fn := consoleFn
		if _, p, _ := strings.Cut(k, " "); strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/api/") {
			fn = apiFn
		}
		if served[k] != fn {
			t.Errorf("%s is served by %q, want %q", k, served[k], fn)
		}
	}
	invokable := map[string]bool{}
	for _, r := range s.ofType("AWS::Lambda::Permission") {
		if p := props(r); p["Principal"] == "apigateway.amazonaws.com" {
			invokable[p["FunctionName"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)] = true
		}
	}
	if want := map[string]bool{apiFn: true, consoleFn: true}; !reflect.DeepEqual(invokable, want) {
		t.Errorf("API Gateway may invoke %v, want %v", invokable, want)
	}
	s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), map[string]any{
		"AccessLogSettings":    map[string]any{"DestinationArn": assertions.Match_AnyValue(), "Format": accessLogFormat},
		"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
	})
}

// TestRules: the bus rules carry shared/eventbridge's patterns exactly and
// every target has a dead-letter queue and a retry policy.
func TestRules(t *testing.T) {
	s := configured(t)
	patterns := map[string]bool{}
	for id, r := range s.ofType("AWS::Events::Rule") {
		p := props(r)
		for _, tg := range p["Targets"].([]any) {
			tm := tg.(map[string]any)
			if tm["DeadLetterConfig"] == nil || !reflect.DeepEqual(tm["RetryPolicy"], map[string]any{
				"MaximumRetryAttempts": float64(targetRetryAttempts), "MaximumEventAgeInSeconds": float64(targetMaxEventHours * 3600)}) {
				t.Errorf("rule %s target %v: no DLQ or retry policy", id, tm)
			}
		}
		if p["EventPattern"] != nil {
			b, _ := json.Marshal(p["EventPattern"])
			patterns[string(b)] = true
		}
	}
	norm := func(s string) string {
		var v any
		json.Unmarshal([]byte(s), &v)
		b, _ := json.Marshal(v)
		return string(b)
	}
	smp := []byte(eventbridge.SageMakerEndpointPattern("churn-"))
	for _, want := range []string{eventbridge.RedeployPattern(), eventbridge.NotifyPattern(), string(smp)} {
		if !patterns[norm(want)] {
			t.Errorf("no rule with pattern %s (have %v)", want, patterns)
		}
	}
	schedules := map[string]string{} // schedule expression → the logical id of the function it runs
	for _, r := range s.ofType("AWS::Events::Rule") {
		if e, ok := props(r)["ScheduleExpression"].(string); ok {
			tg := props(r)["Targets"].([]any)
			if in := tg[0].(map[string]any)["Input"]; in != nil {
				t.Errorf("schedule %s sends %v, not the Scheduled Event", e, in)
			}
			schedules[e] = tg[0].(map[string]any)["Arn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		}
	}
	if want := map[string]string{"rate(15 minutes)": logicalID(s, "Sweeper"), "rate(5 minutes)": logicalID(s, "Notify")}; !reflect.DeepEqual(schedules, want) {
		t.Errorf("schedules %v, want the sweeper's and the approval reminders' %v", schedules, want)
	}
	s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
		"FunctionResponseTypes": []any{"ReportBatchItemFailures"}, "BisectBatchOnFunctionError": true,
		"DestinationConfig": map[string]any{"OnFailure": assertions.Match_AnyValue()},
	})
}

// TestSecretsNotInEnvironment: functions get secret ARNs, never values,
// and every function is arm64 provided.al2023 with X-Ray.
func TestFunctions(t *testing.T) {
	s := configured(t)
	for id, r := range s.ofType("AWS::Lambda::Function") {
		p := props(r)
		if p["Runtime"] != "provided.al2023" || !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) ||
			p["Handler"] != "bootstrap" || !reflect.DeepEqual(p["TracingConfig"], map[string]any{"Mode": "Active"}) {
			t.Errorf("%s: runtime %v %v %v %v", id, p["Runtime"], p["Architectures"], p["Handler"], p["TracingConfig"])
		}
		b, _ := json.Marshal(p["Environment"])
		if regexp.MustCompile(`SecretString|secretsmanager:[a-z]|"Fn::Sub"`).Match(b) {
			t.Errorf("%s: a secret value in the environment: %s", id, b)
		}
	}
}

// TestNag: cdk-nag's AwsSolutions checks report no error and no warning
// that is not suppressed with a reason.
func TestNag(t *testing.T) { nagClean(t, configured(t)) }

// nagClean fails t on each cdk-nag AwsSolutions error or unsuppressed
// warning of s.
func nagClean(t *testing.T, s *synthesized) {
	t.Helper()
	ann := assertions.Annotations_FromStack(s.stack.Stack)
	for _, level := range []struct {
		name  string
		found *[]*cxapi.SynthesisMessage
	}{
		{"error", ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))},
		{"warning", ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))},
	} {
		var msgs []string
		for _, m := range *level.found {
			msgs = append(msgs, *m.Id+": "+strings.SplitN(m.Entry.Data.(string), "\n", 2)[0])
		}
		sort.Strings(msgs)
		for _, m := range msgs {
			t.Errorf("cdk-nag %s: %s", level.name, m)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(map[string]any{"sagemakerPrefix": "churn-", "noncurrentVersionDays": 60})
	if err != nil || c.SageMakerPrefix != "churn-" || c.NoncurrentVersionDays != 60 || c.ArtifactPrefix != "models/" {
		t.Fatalf("ParseConfig = %+v, %v", c, err)
	}
	if c, err := ParseConfig(`{"throttleRate": 5}`); err != nil || c.ThrottleRate != 5 {
		t.Errorf("string context: %+v, %v", c, err)
	}
	oidc := `{"oidc": {"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", "domain": "https://registry.auth.eu-west-1.amazoncognito.com",
		"clientId": "5ab1", "clientSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:console-AbCdEf", "groupRoles": {"ml-approvers": "approver"}}}`
	if c, err := ParseConfig(oidc); err != nil || c.OIDC == nil || c.OIDC.ClientID != "5ab1" || c.OIDC.GroupRoles["ml-approvers"] != "approver" {
		t.Errorf("oidc: %+v, %v", c.OIDC, err)
	}
	for _, bad := range []any{
		map[string]any{"sagemakerPrefx": "x"},
		map[string]any{"sagemakerRoles": []string{"arn:aws:iam::123456789012:user/bob"}},
		map[string]any{"roles": map[string]any{"arn:aws:iam::123456789012:role/A": map[string]any{"role": "root"}}},
		map[string]any{"artifactPrefix": "models"},
		map[string]any{"domainName": "registry.example.com"},
		map[string]any{"corsOrigins": []string{"http://evil.example"}},
		map[string]any{"sweepSchedule": "every 5 minutes"},
		map[string]any{"noncurrentVersionDays": 0},
		map[string]any{"stackName": strings.Repeat("m", 51)},
		map[string]any{"oidc": map[string]any{"domain": "https://x.auth.eu-west-1.amazoncognito.com", "clientId": "c", "groupRoles": map[string]any{"ml": "reader"}}},
		map[string]any{"oidc": map[string]any{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/p/", "domain": "https://x.auth.eu-west-1.amazoncognito.com", "clientId": "c", "groupRoles": map[string]any{"ml": "reader"}}},
		map[string]any{"oidc": map[string]any{"issuer": "http://cognito-idp.eu-west-1.amazonaws.com/p", "domain": "https://x.auth.eu-west-1.amazoncognito.com", "clientId": "c", "groupRoles": map[string]any{"ml": "reader"}}},
		map[string]any{"oidc": map[string]any{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/p", "domain": "x.auth.eu-west-1.amazoncognito.com", "clientId": "c", "groupRoles": map[string]any{"ml": "reader"}}},
		map[string]any{"oidc": map[string]any{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/p", "domain": "https://x.auth.eu-west-1.amazoncognito.com", "groupRoles": map[string]any{"ml": "reader"}}},
		map[string]any{"oidc": map[string]any{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/p", "domain": "https://x.auth.eu-west-1.amazoncognito.com", "clientId": "c"}},
		map[string]any{"oidc": map[string]any{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/p", "domain": "https://x.auth.eu-west-1.amazoncognito.com", "clientId": "c", "groupRoles": map[string]any{"ml": "root"}}},
		map[string]any{"oidc": map[string]any{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/p", "domain": "https://x.auth.eu-west-1.amazoncognito.com", "clientId": "c", "groupRoles": map[string]any{"ml": "reader"}, "clientSecretArn": "arn:aws:iam::123456789012:role/x"}},
		map[string]any{"oidc": map[string]any{"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/p", "domain": "https://x.auth.eu-west-1.amazoncognito.com", "clientId": "c", "groupRoles": map[string]any{"ml": "reader"}, "clientSecret": "plain"}},
	} {
		if _, err := ParseConfig(bad); err == nil {
			t.Errorf("ParseConfig(%v) accepted", bad)
		}
	}
}

func TestCheckAssets(t *testing.T) {
	c := DefaultConfig()
	c.BuildDir = assetDir(t)
	if err := CheckAssets(c); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(c.BuildDir, "notify", "bootstrap"))
	if err := CheckAssets(c); err == nil || !strings.Contains(err.Error(), "notify/bootstrap is missing") {
		t.Errorf("CheckAssets = %v, want notify missing", err)
	}
}
