package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// tool returns the command the environment variable env names (a
// scripts/test.d plug-in prints it); without it the test skips, or fails
// when CI=true, so CI cannot pass without the check.
func tool(t *testing.T, env, plugin string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		msg := env + " is not set: run scripts/test, or `scripts/test.d/" + plugin + " start DIR` and export the line it prints"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the check must run)")
		}
		t.Skip(msg)
	}
	return p
}

// writeJSON writes v as JSON into a new file name under a test directory.
func writeJSON(t *testing.T, name string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSynthesizedASLValid: the state machine's definition as synthesized
// (the embedded document with the task functions' ARNs substituted; each
// GetAtt rendered as the function ARN it resolves to) is valid per npm
// asl-validator@4.0.0, which refuses a document with a broken transition.
func TestSynthesizedASLValid(t *testing.T) {
	bin := tool(t, "MODELREG_ASL_VALIDATOR", "asl-validator.sh")
	s := configured(t)
	var def any
	for _, r := range s.ofType("AWS::StepFunctions::StateMachine") {
		def = props(r)["DefinitionString"]
	}
	doc := renderDefinition(t, def, func(id string) string {
		return "arn:aws:lambda:us-east-1:123456789012:function:modelreg-" + id
	})
	if left := regexp.MustCompile(`\$\{[A-Za-z]+\}`).FindString(doc); left != "" {
		t.Fatalf("placeholder %s is left in the definition", left)
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("the definition is not JSON: %v", err)
	}
	run := func(p string) ([]byte, error) {
		return exec.Command(bin, "--json-path", p).CombinedOutput()
	}
	if out, err := run(writeJSON(t, "promotion.asl.json", parsed)); err != nil {
		t.Errorf("asl-validator refuses the synthesized definition: %v\n%s", err, out)
	}
	// The validator is not a yes-machine: a Next to no state fails it.
	for _, st := range parsed["States"].(map[string]any) {
		if m := st.(map[string]any); m["Next"] != nil {
			m["Next"] = "NoSuchState"
			break
		}
	}
	if out, err := run(writeJSON(t, "broken.asl.json", parsed)); err == nil {
		t.Errorf("asl-validator accepts a Next to a missing state:\n%s", out)
	}
}

// cfnLintIgnored are the cfn-lint rules not applied to the template, each
// with its reason.
var cfnLintIgnored = map[string]string{
	"W3005": "awslambda.Function adds a DependsOn on its own role beside the GetAtt of the role's ARN, so the role's policy exists before the function; the redundant edge changes nothing",
}

// TestCfnLint: the synthesized template (the representative configuration:
// CORS, role mapping, SageMaker roles, subscribers) is clean under
// cfn-lint==1.58.0, warnings included; a template with a broken property
// is not.
func TestCfnLint(t *testing.T) {
	bin := tool(t, "MODELREG_CFN_LINT", "cfn-lint.sh")
	s := configured(t)
	lint := func(tpl any) ([]byte, error) {
		args := []string{"--format", "parseable", "--regions", "us-east-1"}
		var ignored []string
		for rule := range cfnLintIgnored {
			ignored = append(ignored, rule)
		}
		slices.Sort(ignored)
		if len(ignored) > 0 {
			args = append(args, "--ignore-checks", strings.Join(ignored, ","))
		}
		args = append(args, "--", writeJSON(t, "template.json", tpl))
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		return out.Bytes(), cmd.Run()
	}
	tpl := s.template.ToJSON()
	if out, err := lint(tpl); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("cfn-lint on the synthesized template: %v\n%s", err, out)
	}
	// The same linter fails a template whose table has an unknown
	// billing mode.
	b, _ := json.Marshal(tpl)
	var broken map[string]any
	json.Unmarshal(b, &broken)
	props(broken["Resources"].(map[string]any)[TableLogicalID].(map[string]any))["BillingMode"] = "FREE"
	if out, err := lint(broken); err == nil {
		t.Errorf("cfn-lint accepts BillingMode FREE:\n%s", out)
	}
}

// offlineEnv is the environment of a command that must not reach the
// network: no Go module downloads, every HTTP(S) request through a proxy
// on a closed port, no instance metadata, no CDK notices or telemetry.
func offlineEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "GOPROXY", "GOFLAGS", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOPROXY=off", "GOFLAGS=-mod=readonly -buildvcs=false", "GOTOOLCHAIN=local",
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9",
		"AWS_EC2_METADATA_DISABLED=true", "CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=1",
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}

// TestCDKSynthFreshClone: `cdk synth` (npm aws-cdk@2.1148.1, cdk.json's
// app) works offline in a fresh clone of the committed tree: without the
// function builds it fails naming scripts/build-lambdas; after
// scripts/build-lambdas it writes the template with each function's
// bootstrap as its asset. Functions whose directory has not landed yet get
// a one-line placeholder asset, named in the log (synthesis only hashes
// and copies assets).
func TestCDKSynthFreshClone(t *testing.T) {
	cdk := tool(t, "MODELREG_CDK", "aws-cdk.sh")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "modelreg")
	run := func(dir string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, offlineEnv()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(root, "git", "clone", "--quiet", "--no-hardlinks", root, clone); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	synth := func() (string, error) {
		return run(clone, cdk, "synth", "--no-notices", "--quiet")
	}
	if out, err := synth(); err == nil || !strings.Contains(out, "run scripts/build-lambdas") {
		t.Fatalf("cdk synth without the builds: %v, want the missing-build message:\n%s", err, out)
	}
	if out, err := run(clone, "bash", "scripts/build-lambdas"); err != nil {
		t.Fatalf("scripts/build-lambdas: %v\n%s", err, out)
	}
	var pending []string
	for _, n := range FunctionNames {
		if _, err := os.Stat(filepath.Join(clone, "functions", n, "main.go")); err == nil {
			continue
		}
		pending = append(pending, n)
		p := filepath.Join(clone, "build", n, "bootstrap")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("placeholder: functions/"+n+" has not landed\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if len(pending) > 0 {
		t.Logf("functions not on this tree yet, synthesized with placeholder assets: %v", pending)
	}
	if out, err := synth(); err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(clone, "cdk.out", "modelreg.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct{ Resources map[string]map[string]any }
	if err := json.Unmarshal(b, &tpl); err != nil || tpl.Resources[TableLogicalID] == nil || tpl.Resources[BucketLogicalID] == nil {
		t.Fatalf("template without the table or bucket: %v", err)
	}
	// Each built function's bootstrap is in the assembly as its asset.
	built, _ := filepath.Glob(filepath.Join(clone, "build", "*", "bootstrap"))
	assets, _ := filepath.Glob(filepath.Join(clone, "cdk.out", "asset.*", "bootstrap"))
	sums := map[string]bool{}
	for _, a := range assets {
		b, _ := os.ReadFile(a)
		sums[string(b)] = true
	}
	for _, p := range built {
		b, _ := os.ReadFile(p)
		if !sums[string(b)] {
			t.Errorf("%s is not an asset of the assembly", p)
		}
	}
}

// TestDeployRefusesWithoutCredentials: scripts/deploy stops before building
// anything when the credential chain has no source, saying how to give one.
func TestDeployRefusesWithoutCredentials(t *testing.T) {
	home := t.TempDir()
	cmd := exec.Command("bash", "../scripts/deploy", "--no-bootstrap")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_REGION=us-east-1", "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "deploy: no AWS credentials: set AWS_PROFILE") {
		t.Fatalf("scripts/deploy without credentials: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "bytes (") { // build-lambdas' size lines
		t.Errorf("scripts/deploy built functions before refusing:\n%s", out)
	}
	// With a credentials file but no region, it asks for the region.
	os.MkdirAll(filepath.Join(home, ".aws"), 0o700)
	os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte("[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n"), 0o600)
	cmd = exec.Command("bash", "../scripts/deploy")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "deploy: no region") {
		t.Errorf("scripts/deploy without a region: %v\n%s", err, out)
	}
}
