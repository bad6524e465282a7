package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/app"
)

// TestMLflowArtifactsFlag: --mlflow-artifacts (env MODELREG_MLFLOW_ARTIFACTS)
// reaches app.Config; s3 without S3 artifacts is a usage error naming the
// flag, and nothing starts.
func TestMLflowArtifactsFlag(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{want: app.MLflowArtifactsProxy},
		{env: "s3", want: app.MLflowArtifactsS3},
		{env: "s3", args: []string{"--mlflow-artifacts", "proxy"}, want: app.MLflowArtifactsProxy},
	} {
		t.Setenv("MODELREG_MLFLOW_ARTIFACTS", tc.env)
		c, err := serveFlags(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.backend.appConfig(t.TempDir(), "http://127.0.0.1:1", bytes.Repeat([]byte("s"), 32)).MLflowArtifacts; got != tc.want {
			t.Errorf("env %q args %q: MLflowArtifacts %q, want %q", tc.env, tc.args, got, tc.want)
		}
	}
	t.Setenv("MODELREG_MLFLOW_ARTIFACTS", "")
	for _, mode := range []string{"s3", "disk"} {
		c, err := serveFlags([]string{"--mlflow-artifacts", mode})
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.backend.appConfig(t.TempDir(), "http://127.0.0.1:1", bytes.Repeat([]byte("s"), 32))
		a, err := app.New(t.Context(), cfg)
		if err == nil {
			a.Close()
		}
		err = flagError(err)
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--mlflow-artifacts") {
			t.Errorf("--mlflow-artifacts %s with filesystem artifacts: %v, want a usage error naming the flag", mode, err)
		}
	}
}
