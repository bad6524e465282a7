package lambdatest

import (
	"os/exec"
	"strings"
	"testing"
)

// embedded are the packages that keep data on the local disk: a Lambda
// binary must never link them.
var embedded = []string{"modernc.org/sqlite", "github.com/modelreg/modelreg/shared/sqlite", "github.com/modelreg/modelreg/shared/filesystem"}

// CheckLinks lists the dependencies of the package in the test's working
// directory as a Lambda build sees them (-tags BuildTags) and fails the
// test unless they include aws-lambda-go and every package in want (the
// proof that the listing is right), and none of the embedded backends.
func CheckLinks(t *testing.T, want ...string) {
	t.Helper()
	CheckLinksNot(t, want, nil)
}

// CheckLinksNot is CheckLinks that also fails the test if the function
// links a package in refused (e.g. an SDK client it has no use for); an
// entry ending in "/..." refuses every package under it.
func CheckLinksNot(t *testing.T, want, refused []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-tags", BuildTags, "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	d := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		d[p] = true
	}
	for _, p := range append([]string{"github.com/aws/aws-lambda-go/lambda"}, want...) {
		if !d[p] {
			t.Fatalf("the listing lacks %s: it is wrong", p)
		}
	}
	for _, r := range append(refused, embedded...) {
		under, ok := strings.CutSuffix(r, "/...")
		for p := range d {
			if p == r || (ok && (p == under || strings.HasPrefix(p, under+"/"))) {
				t.Errorf("the function links %s", p)
			}
		}
	}
}
