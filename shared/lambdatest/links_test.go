package lambdatest

import (
	"os"
	"strings"
	"testing"
)

// TestBuildLambdasUsesBuildTags: scripts/build-lambdas builds with the
// same tags as Build, so the binaries the tests run are the ones deployed.
func TestBuildLambdasUsesBuildTags(t *testing.T) {
	b, err := os.ReadFile("../../scripts/build-lambdas")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "go build") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			if !strings.Contains(line, "-tags "+BuildTags+" ") {
				t.Errorf("scripts/build-lambdas builds with %q, want -tags %s", line, BuildTags)
			}
			return
		}
	}
	t.Fatal("no go build line in scripts/build-lambdas")
}
