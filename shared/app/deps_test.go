package app_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// embeddedOnly are the packages a binary for AWS must not link: SQLite (17
// MB of a stripped arm64 binary instead of 4) and the filesystem adapter.
var embeddedOnly = []string{
	"modernc.org/sqlite",
	"github.com/modelreg/modelreg/shared/sqlite",
	"github.com/modelreg/modelreg/shared/filesystem",
	"github.com/modelreg/modelreg/shared/app/embedded",
}

// deps lists the packages pkg links (go list -deps).
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	m := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		m[p] = true
	}
	return m
}

// TestAWSAppLinksNoEmbeddedBackend: package app, and a program that builds
// the AWS app with it (testdata/awsapp, as a Lambda entry point does), link
// neither SQLite nor the filesystem adapter; package app/embedded, the
// control, links both. The program also builds.
func TestAWSAppLinksNoEmbeddedBackend(t *testing.T) {
	for _, pkg := range []string{".", "./testdata/awsapp"} {
		d := deps(t, pkg)
		if !d["github.com/modelreg/modelreg/shared/dynamodb"] || !d["github.com/modelreg/modelreg/shared/sfn"] {
			t.Fatalf("%s does not link the AWS adapters: the listing is wrong", pkg)
		}
		for _, p := range embeddedOnly {
			if d[p] {
				t.Errorf("%s links %s: binaries for AWS must not", pkg, p)
			}
		}
	}
	// Nor does package app link any SDK service client or the SDK's
	// default configuration: its adapters call AWS through shared/awsapi,
	// and callers pass the configuration (AWS.Config, AWS.Load).
	for p := range deps(t, ".") {
		for _, sdk := range []string{"github.com/aws/aws-sdk-go-v2/service/", "github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/credentials", "github.com/aws/aws-sdk-go-v2/feature/"} {
			if strings.HasPrefix(p, sdk) {
				t.Errorf("package app links %s", p)
			}
		}
	}
	d := deps(t, "./embedded")
	for _, p := range embeddedOnly[:3] {
		if !d[p] {
			t.Errorf("./embedded does not link %s, which it provides", p)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "awsapp")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/awsapp").CombinedOutput(); err != nil {
		t.Fatalf("build testdata/awsapp: %v\n%s", err, out)
	}
	// Without AWS settings it says what is missing, having opened nothing.
	out, err := exec.Command(bin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Secret") {
		t.Errorf("awsapp without settings: %v %q, want a Secret error", err, out)
	}
}
