package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// logicalID is the logical id of function id.
func logicalID(s *synthesized, id string) string {
	return *s.stack.GetLogicalId(s.stack.Functions[id].Node().DefaultChild().(awscdk.CfnElement))
}

// render writes a CloudFormation value as one string: each Ref as <X>,
// each GetAtt as <X.Attr>, an Fn::Join joined.
func render(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if r, ok := v["Ref"].(string); ok {
			return "<" + r + ">"
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok {
			return "<" + ga[0].(string) + "." + ga[1].(string) + ">"
		}
		if sel, ok := v["Fn::Select"].([]any); ok {
			return fmt.Sprintf("select(%v,%s)", sel[0], render(t, sel[1]))
		}
		if sp, ok := v["Fn::Split"].([]any); ok {
			return fmt.Sprintf("split(%v,%s)", sp[0], render(t, sp[1]))
		}
		if j, ok := v["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(t, p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	t.Fatalf("cannot render %v", v)
	return ""
}

// grantsOf are the function's allowed actions by service ("s3") as
// "action on resource [condition]", sorted.
func grantsOf(t *testing.T, s *synthesized, id string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, st := range statements(t, s, id) {
		if st["Effect"] != "Allow" {
			continue
		}
		var acts []string
		actions(st, &acts)
		res, ok := st["Resource"].([]any)
		if !ok {
			res = []any{st["Resource"]}
		}
		cond := ""
		if st["Condition"] != nil {
			b, _ := json.Marshal(st["Condition"])
			cond = " " + string(b)
		}
		for _, a := range acts {
			for _, r := range res {
				svc := a[:strings.Index(a, ":")]
				out[svc] = append(out[svc], a+" on "+render(t, r)+cond)
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func sorted(v ...string) []string { sort.Strings(v); return v }

// TestS3Grants: each function may call on the artifact bucket exactly
// what its code calls (infra/grants.go names the calls), on the objects
// under the artifact prefix (and the api a listing of that prefix only;
// the console, which only presigns downloads, GetObject only); the
// functions that touch no artifact get no S3 at all.
func TestS3Grants(t *testing.T) {
	s := configured(t)
	objects := "<" + BucketLogicalID + ".Arn>/models/*"
	on := func(acts ...string) []string {
		var out []string
		for _, a := range acts {
			out = append(out, a+" on "+objects)
		}
		return out
	}
	readWrite := on("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
	want := map[string][]string{
		"Api":          sorted(append(slices.Clone(readWrite), `s3:ListBucket on <`+BucketLogicalID+`.Arn> {"StringLike":{"s3:prefix":["models/*"]}}`)...),
		"Console":      on("s3:GetObject"),
		"VerifyUpload": sorted(slices.Clone(readWrite)...),
		"Sweeper":      sorted(on("s3:AbortMultipartUpload", "s3:DeleteObject")...),
	}
	for _, id := range sortedKeys(s.stack.Functions) {
		if got := grantsOf(t, s, id)["s3"]; !reflect.DeepEqual(got, want[id]) {
			t.Errorf("%s's S3 grants:\n got %q\nwant %q", id, got, want[id])
		}
	}
}

// TestArtifactPrefixGrants: the grants and cdk-nag's suppression follow a
// configured artifact prefix.
func TestArtifactPrefixGrants(t *testing.T) {
	c := DefaultConfig()
	c.BuildDir = assetDir(t)
	c.ArtifactPrefix = "registry/prod/"
	s := synth(t, c)
	for _, g := range grantsOf(t, s, "Sweeper")["s3"] {
		if !strings.HasSuffix(g, "/registry/prod/*") {
			t.Errorf("sweeper: %s", g)
		}
	}
	if got := grantsOf(t, s, "Api")["s3"]; !slices.Contains(got, `s3:ListBucket on <`+BucketLogicalID+`.Arn> {"StringLike":{"s3:prefix":["registry/prod/*"]}}`) {
		t.Errorf("api's listing: %q", got)
	}
	nagClean(t, s)
}

// TestInvokeGrants: the api (a large upload's completion), the sweeper
// (versions left VERIFYING) and verify-upload itself (a verification
// that runs out of time) may invoke verify-upload, by the name the stack
// gives it, and no other function; nobody else may invoke anything (the
// console completes no upload and is not told verify-upload's name).
func TestInvokeGrants(t *testing.T) {
	s := configured(t)
	name := "modelreg-verify-upload"
	if got := props(s.res[logicalID(s, "VerifyUpload")])["FunctionName"]; got != name {
		t.Fatalf("verify-upload's FunctionName %v, want %s", got, name)
	}
	arn := "lambda:InvokeFunction on arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:" + name
	for _, id := range sortedKeys(s.stack.Functions) {
		var want []string
		switch id {
		case "Api", "Sweeper", "VerifyUpload":
			want = []string{arn}
			if env := environment(s, id); id != "VerifyUpload" && env[EnvVerifyFn] != name {
				t.Errorf("%s: %s=%v, want %s", id, EnvVerifyFn, env[EnvVerifyFn], name)
			}
		}
		if got := grantsOf(t, s, id)["lambda"]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s's Lambda grants %q, want %q", id, got, want)
		}
	}
	if v, ok := environment(s, "Console")[EnvVerifyFn]; ok {
		t.Errorf("console: %s=%v", EnvVerifyFn, v)
	}
}

// TestSecretAndKeyGrants: the functions that sign (page tokens, console
// sessions) read the signing key's secret by ARN, GetSecretValue only;
// notify reads the Slack secret too; the api seals and opens webhook
// secrets with the KMS key, redeploy only opens them, the console (no page
// touches a deploy target's secret) neither.
func TestSecretAndKeyGrants(t *testing.T) {
	s := configured(t)
	signing := "secretsmanager:GetSecretValue on <" + *s.stack.GetLogicalId(s.stack.Secrets.SigningKey.Node().DefaultChild().(awscdk.CfnElement)) + ">"
	slack := "secretsmanager:GetSecretValue on <" + *s.stack.GetLogicalId(s.stack.Secrets.Slack.Node().DefaultChild().(awscdk.CfnElement)) + ">"
	key := "<" + *s.stack.GetLogicalId(s.stack.Secrets.WebhookKey.Node().DefaultChild().(awscdk.CfnElement)) + ".Arn>"
	for _, id := range sortedKeys(s.stack.Functions) {
		var secrets, kms []string
		switch id {
		case "Api":
			secrets, kms = []string{signing}, sorted("kms:Encrypt on "+key, "kms:Decrypt on "+key)
		case "Console":
			secrets = []string{signing}
		case "Validate", "RequestApproval", "Promote", "RecordOutcome":
			secrets = []string{signing}
		case "Redeploy":
			secrets, kms = []string{signing}, []string{"kms:Decrypt on " + key}
		case "Notify":
			secrets = sorted(signing, slack)
		}
		g := grantsOf(t, s, id)
		if !reflect.DeepEqual(g["secretsmanager"], secrets) {
			t.Errorf("%s's secret grants %q, want %q", id, g["secretsmanager"], secrets)
		}
		var gotKMS []string
		for _, k := range g["kms"] {
			if strings.Contains(k, key) {
				gotKMS = append(gotKMS, k)
			}
		}
		if !reflect.DeepEqual(gotKMS, kms) {
			t.Errorf("%s's webhook key grants %q, want %q", id, gotKMS, kms)
		}
		if secrets != nil && environment(s, id)[EnvSecret] == nil {
			t.Errorf("%s gets no %s", id, EnvSecret)
		}
	}
}

// environment is function id's environment variables.
func environment(s *synthesized, id string) map[string]any {
	return props(s.res[logicalID(s, id)])["Environment"].(map[string]any)["Variables"].(map[string]any)
}

// serviceEnv are the settings the api and the console functions both get
// (the registry service's).
var serviceEnv = []string{EnvStoreKind, EnvArtifacts, EnvTable, EnvBucket, EnvPrefix, EnvWorkflowKind, EnvStateMachine,
	EnvSecret, EnvWebhookKey, EnvSageMaker, EnvPassRoles}

// TestApiEnvironment: the api gets every setting by the names functions/api
// reads, MLflow run artifacts on s3, and no OIDC setting (the console's).
func TestApiEnvironment(t *testing.T) {
	s := configured(t)
	env := environment(s, "Api")
	for _, k := range append(slices.Clone(serviceEnv), EnvRoles, EnvVerifyFn, EnvMLflowArts) {
		if env[k] == nil {
			t.Errorf("api: no %s", k)
		}
	}
	if env[EnvMLflowArts] != "s3" || env[EnvPrefix] != "models/" || env[EnvSageMaker] != "churn-" ||
		env[EnvPassRoles] != "arn:aws:iam::123456789012:role/SageMakerExec" {
		t.Errorf("api environment %v", env)
	}
	var roles map[string]RoleMapping
	if err := json.Unmarshal([]byte(env[EnvRoles].(string)), &roles); err != nil ||
		!reflect.DeepEqual(roles, map[string]RoleMapping{"arn:aws:iam::123456789012:role/Approvers": {Role: "approver", Groups: []string{"ml"}}}) {
		t.Errorf("%s %v (%v)", EnvRoles, env[EnvRoles], err)
	}
	noOIDC(t, s, "Api")
	// Notify links to the console on the API's URL.
	if got, want := render(t, environment(s, "Notify")[EnvConsoleURL]), "https://<"; !strings.HasPrefix(got, want) || !strings.Contains(got, "execute-api") {
		t.Errorf("notify's %s = %s", EnvConsoleURL, got)
	}
}

// noOIDC fails t for each MODELREG_OIDC_ setting of function id.
func noOIDC(t *testing.T, s *synthesized, id string) {
	t.Helper()
	for k := range environment(s, id) {
		if strings.HasPrefix(k, "MODELREG_OIDC_") {
			t.Errorf("%s: %s", id, k)
		}
	}
}

// TestConsoleEnvironment: the console gets the api's service settings,
// the same values, and neither the IAM role mapping (API callers only),
// verify-upload's name nor the MLflow setting; no OIDC setting unless
// configured.
func TestConsoleEnvironment(t *testing.T) {
	s := configured(t)
	api, env := environment(s, "Api"), environment(s, "Console")
	for _, k := range serviceEnv {
		if env[k] == nil || !reflect.DeepEqual(env[k], api[k]) {
			t.Errorf("console: %s = %v, the api's %v", k, env[k], api[k])
		}
	}
	if len(env) != len(serviceEnv) {
		t.Errorf("console environment %v: want only %v", env, serviceEnv)
	}
	for _, k := range []string{EnvRoles, EnvVerifyFn, EnvMLflowArts} {
		if v, ok := env[k]; ok {
			t.Errorf("console: %s=%v", k, v)
		}
	}
	noOIDC(t, s, "Console")
	p := props(s.res[logicalID(s, "Console")])
	if p["Timeout"] != float64(29) || p["MemorySize"] != float64(512) {
		t.Errorf("console: timeout %v, memory %v, want 29 s, 512 MB", p["Timeout"], p["MemorySize"])
	}
}

// TestOIDC: with an oidc block the console (and no other function) gets
// the sign-in settings, the endpoints derived from the issuer and the
// hosted UI domain, the redirect on the API's own URL, the client secret
// by ARN with GetSecretValue on that secret only; a public client gets no
// secret.
func TestOIDC(t *testing.T) {
	c := DefaultConfig()
	c.BuildDir = assetDir(t)
	secret := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:modelreg-console-client-AbCdEf"
	c.OIDC = &OIDCConfig{Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", Domain: "https://registry.auth.eu-west-1.amazoncognito.com",
		ClientID: "5ab1client", ClientSecretARN: secret, GroupRoles: map[string]string{"ml-approvers": "approver", "ml": "publisher"}}
	c.DomainName, c.CertificateARN = "registry.example.com", "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
	s := synth(t, c)
	env := environment(s, "Console")
	want := map[string]string{
		EnvOIDCIssuer:       "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
		EnvOIDCAuthorize:    "https://registry.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
		EnvOIDCToken:        "https://registry.auth.eu-west-1.amazoncognito.com/oauth2/token",
		EnvOIDCJWKS:         "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json",
		EnvOIDCClientID:     "5ab1client",
		EnvOIDCClientSecret: secret,
		EnvOIDCRedirect:     "https://registry.example.com/login/callback",
	}
	for k, v := range want {
		if got := render(t, env[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	var groups map[string]string
	if err := json.Unmarshal([]byte(env[EnvOIDCGroupRoles].(string)), &groups); err != nil || !reflect.DeepEqual(groups, c.OIDC.GroupRoles) {
		t.Errorf("%s = %v (%v)", EnvOIDCGroupRoles, env[EnvOIDCGroupRoles], err)
	}
	if got := grantsOf(t, s, "Console")["secretsmanager"]; !slices.Contains(got, "secretsmanager:GetSecretValue on "+secret) || len(got) != 2 {
		t.Errorf("console's secret grants %q: want the signing key and the client secret", got)
	}
	for _, id := range sortedKeys(s.stack.Functions) {
		if id == "Console" {
			continue
		}
		noOIDC(t, s, id)
		if slices.ContainsFunc(grantsOf(t, s, id)["secretsmanager"], func(g string) bool { return strings.Contains(g, secret) }) {
			t.Errorf("%s may read the OIDC client secret", id)
		}
	}
	nagClean(t, s)

	// Without a custom domain the redirect is on the stage's URL; a public
	// client has no secret.
	c.DomainName, c.CertificateARN, c.OIDC.ClientSecretARN = "", "", ""
	s = synth(t, c)
	env = environment(s, "Console")
	if got := render(t, env[EnvOIDCRedirect]); !regexp.MustCompile(`^https://<GatewayHttpApi[A-Z0-9]+>\.execute-api\.<AWS::Region>\.<AWS::URLSuffix>/login/callback$`).MatchString(got) {
		t.Errorf("%s = %s", EnvOIDCRedirect, got)
	}
	if env[EnvOIDCClientSecret] != nil || len(grantsOf(t, s, "Console")["secretsmanager"]) != 1 {
		t.Errorf("a public client: %v, %q", env[EnvOIDCClientSecret], grantsOf(t, s, "Console")["secretsmanager"])
	}
	noOIDC(t, s, "Api")
}

// callsIn returns the SDK calls the non-test Go files of the package in
// dir make, by the patterns given (each pattern's first group is the
// call's name).
func callsIn(t *testing.T, dir string, patterns ...string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patterns {
			for _, m := range regexp.MustCompile(p).FindAllStringSubmatch(string(b), -1) {
				seen[m[1]] = true
			}
		}
	}
	return sortedKeys(seen)
}

// checkCalls fails t for each call of the package that needs is not
// granted to fn (or is new: it must be named in needs first).
func checkCalls(t *testing.T, s *synthesized, fn, pkg string, calls []string, needs map[string][]string) {
	t.Helper()
	var granted []string
	for _, gs := range grantsOf(t, s, fn) {
		for _, g := range gs {
			granted = append(granted, strings.SplitN(g, " ", 2)[0])
		}
	}
	if len(calls) < 4 {
		t.Fatalf("found only %v in %s: the scan is broken", calls, pkg)
	}
	for _, c := range calls {
		acts, ok := needs[c]
		if !ok {
			t.Errorf("%s calls %s, which infra/grants.go does not name: grant what it needs, then list it here", pkg, c)
		}
		for _, a := range acts {
			if !slices.Contains(granted, a) {
				t.Errorf("%s calls %s, which needs %s: %s may not", pkg, c, a, fn)
			}
		}
	}
}

// TestStoreCallsGranted: every DynamoDB call shared/dynamodb's Store
// makes (and each kind of item a transaction writes) is authorized by the
// grant every function gets, so a new call cannot reach AWS ungranted.
func TestStoreCallsGranted(t *testing.T) {
	s := configured(t)
	calls := callsIn(t, "../shared/dynamodb", `\.client\.([A-Z][A-Za-z]+)\(`, `wire\.(Put|Update|Delete|ConditionCheck)\{`)
	needs := map[string][]string{
		"GetItem": {"dynamodb:GetItem"}, "BatchGetItem": {"dynamodb:BatchGetItem"}, "Query": {"dynamodb:Query"},
		"DeleteItem": {"dynamodb:DeleteItem"}, "UpdateItem": {"dynamodb:UpdateItem"}, "PutItem": {"dynamodb:PutItem"},
		"TransactWriteItems": nil, // authorized as the items it holds:
		"Put":                {"dynamodb:PutItem"}, "Update": {"dynamodb:UpdateItem"}, "Delete": {"dynamodb:DeleteItem"},
		"ConditionCheck": {"dynamodb:ConditionCheckItem"},
	}
	for _, fn := range sortedKeys(s.stack.Functions) {
		checkCalls(t, s, fn, "shared/dynamodb", calls, needs)
	}
}

// TestArtifactCallsGranted: every S3 call shared/s3 makes (presigned ones
// too: the URL carries the api role's authority) is authorized for the
// api, which serves every artifact route.
func TestArtifactCallsGranted(t *testing.T) {
	s := configured(t)
	// The adapter's S3 client names its methods after the operations
	// (a.client.ListObjectsV2(…), a.client.PresignUploadPart(…)).
	calls := callsIn(t, "../shared/s3", `\.client\.([A-Z][A-Za-z0-9]+)\(`)
	needs := map[string][]string{
		"GetObject": {s3Get}, "HeadObject": {s3Get}, "PresignGetObject": {s3Get},
		"PutObject": {s3Put}, "CreateMultipartUpload": {s3Put}, "UploadPart": {s3Put}, "CompleteMultipartUpload": {s3Put},
		"PresignPutObject": {s3Put}, "PresignUploadPart": {s3Put},
		"UploadPartCopy": {s3Get, s3Put}, "CopyObject": {s3Get, s3Put},
		"DeleteObject": {s3Delete}, "AbortMultipartUpload": {s3Abort}, "ListParts": {s3ListParts},
		"ListObjectsV2": {s3ListBucket},
		// Only with CreateResources (local setups, shared/app's
		// ensureBucket): no deployed function makes them.
		"HeadBucket": nil, "CreateBucket": nil,
	}
	checkCalls(t, s, "Api", "shared/s3", calls, needs)
}

// TestConsoleCallsGranted: every registry service operation shared/console
// calls is authorized on the bucket for the console function (the
// operations that touch no file need nothing of S3), so that a page that
// starts writing or removing files cannot reach AWS ungranted.
func TestConsoleCallsGranted(t *testing.T) {
	s := configured(t)
	calls := callsIn(t, "../shared/console", `\.svc\.([A-Z][A-Za-z0-9]+)\(`)
	needs := map[string][]string{
		"Downloads":  {s3Get}, // presigned GetObject URLs
		"ListModels": nil, "GetModel": nil, "ListVersions": nil, "GetVersion": nil, "ListAliases": nil, "History": nil,
		"Compare": nil, "ListApprovals": nil, "GetApproval": nil,
		// Records and the state machine (grantService, TestTaskResponseGrants).
		"Transition": nil, "Rollback": nil, "DecideApproval": nil,
	}
	checkCalls(t, s, "Console", "shared/console", calls, needs)
}

// TestPublishGrants: only notify publishes to the notifications topic,
// with the two KMS actions SNS needs for its encryption key, and no KMS
// action group (kms:GenerateDataKey*) is granted anywhere.
func TestPublishGrants(t *testing.T) {
	s := configured(t)
	topic := "<" + *s.stack.GetLogicalId(s.stack.Notifications.Node().DefaultChild().(awscdk.CfnElement)) + ">"
	key := "<" + *s.stack.GetLogicalId(s.stack.Secrets.TopicKey.Node().DefaultChild().(awscdk.CfnElement)) + ".Arn>"
	for _, id := range sortedKeys(s.stack.Functions) {
		g := grantsOf(t, s, id)
		var sns, kms []string
		if id == "Notify" {
			sns, kms = []string{"sns:Publish on " + topic}, sorted("kms:Decrypt on "+key, "kms:GenerateDataKey on "+key)
		}
		var gotKMS []string
		for _, k := range g["kms"] {
			if strings.HasSuffix(k, "*") || strings.Contains(k, "* on") {
				t.Errorf("%s: KMS action group %s", id, k)
			}
			if strings.Contains(k, key) {
				gotKMS = append(gotKMS, k)
			}
		}
		if !reflect.DeepEqual(g["sns"], sns) || !reflect.DeepEqual(gotKMS, kms) {
			t.Errorf("%s: SNS %q and topic key %q, want %q and %q", id, g["sns"], gotKMS, sns, kms)
		}
	}
}

// TestTaskResponseGrants: the state machine has its fixed name; only the
// api and the console (decisions) and RequestApproval (a decision that
// came before the token) may end a wait, on that machine only; nothing
// else gets a Step Functions grant but the api's and the console's
// start/describe/stop.
func TestTaskResponseGrants(t *testing.T) {
	s := configured(t)
	sm := *s.stack.GetLogicalId(s.stack.Workflow.StateMachine.Node().DefaultChild().(awscdk.CfnElement))
	if got := props(s.res[sm])["StateMachineName"]; got != "modelreg-promotion" {
		t.Fatalf("StateMachineName %v, want modelreg-promotion", got)
	}
	byName := "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:modelreg-promotion"
	for _, id := range sortedKeys(s.stack.Functions) {
		g := grantsOf(t, s, id)["states"]
		switch id {
		case "RequestApproval":
			want := sorted("states:SendTaskSuccess on "+byName, "states:SendTaskFailure on "+byName)
			if !reflect.DeepEqual(g, want) {
				t.Errorf("RequestApproval's Step Functions grants %q, want %q", g, want)
			}
		case "Api", "Console":
			for _, a := range []string{"states:StartExecution", "states:SendTaskSuccess", "states:SendTaskFailure",
				"states:DescribeExecution", "states:StopExecution"} {
				if !slices.ContainsFunc(g, func(s string) bool { return strings.HasPrefix(s, a+" on ") }) {
					t.Errorf("%s lacks %s: %q", id, a, g)
				}
			}
			if !reflect.DeepEqual(g, grantsOf(t, s, "Api")["states"]) {
				t.Errorf("%s's Step Functions grants %q differ from the api's %q", id, g, grantsOf(t, s, "Api")["states"])
			}
		default:
			if len(g) != 0 {
				t.Errorf("%s has Step Functions grants %q, want none", id, g)
			}
		}
	}
}
