package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/migrate"
)

// runCopy copies a registry between two pairs of backends (shared/migrate).
func runCopy(ctx context.Context, args []string, out io.Writer) error {
	fs := newPlainFlags("copy", "--from BACKENDS --to BACKENDS")
	var from, to string
	fs.StringVar(&from, "from", "", "the registry to copy: sqlite:DIR, or dynamodb:TABLE,s3:BUCKET (any mix with files:DIR)")
	fs.StringVar(&to, "to", "", "where to copy it, in the same form")
	// Endpoints, region and --create-resources, as serve has them; the
	// kinds of backend come from --from and --to.
	b := backendConfig{workflow: app.WorkflowNone}
	fs.StringVar(&b.region, "aws-region", envOr("AWS_REGION", "us-east-1"), "AWS region (env AWS_REGION)")
	fs.StringVar(&b.dynamoURL, "dynamodb-endpoint", os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), "DynamoDB endpoint URL, e.g. DynamoDB Local (default: AWS; env MODELREG_DYNAMODB_ENDPOINT)")
	fs.StringVar(&b.s3URL, "s3-endpoint", os.Getenv("MODELREG_S3_ENDPOINT"), "S3 endpoint URL, e.g. MinIO; path-style addressing (default: AWS; env MODELREG_S3_ENDPOINT)")
	fs.BoolVar(&b.createResources, "create-resources", os.Getenv("MODELREG_CREATE_RESOURCES") == "true", "create the target's DynamoDB table and S3 bucket if missing (env MODELREG_CREATE_RESOURCES=true)")
	pos, err := parse(fs, nil, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("copy takes no arguments, got %q", pos)
	}
	if from == "" || to == "" {
		return usagef("copy needs --from and --to, e.g. --from sqlite:$HOME/.modelreg --to dynamodb:modelreg,s3:my-models")
	}
	base := b.appConfig("", "", []byte(rand.Text()+rand.Text()))
	base.Logger = quietLogger()
	src, err := openSide(ctx, from, base)
	if err != nil {
		return fmt.Errorf("--from %s: %w", from, err)
	}
	defer src.Close()
	dst, err := openSide(ctx, to, base)
	if err != nil {
		return fmt.Errorf("--to %s: %w", to, err)
	}
	defer dst.Close()
	c := &migrate.Copier{From: src.Side, To: dst.Side, Progress: func(model string, version int, path string, size int64) {
		fmt.Fprintf(os.Stderr, "copied %s version %d %s (%s, SHA-256 verified)\n", model, version, path, humanBytes(size))
	}}
	st, runErr := c.Run(ctx)
	var kinds []string
	for k := range st.Written {
		kinds = append(kinds, k)
	}
	for k := range st.Unchanged {
		if _, ok := st.Written[k]; !ok {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d written, %d already there", k, st.Written[k], st.Unchanged[k]))
	}
	fmt.Fprintf(out, "%s\nfiles %d copied (%s), %d already there\n", strings.Join(parts, "\n"), st.Files, humanBytes(st.Bytes), st.FilesThere)
	if runErr != nil {
		return fmt.Errorf("copy stopped (run it again to finish): %w", runErr)
	}
	return nil
}

// openSide opens one side of a copy (creating an embedded registry's
// directory).
func openSide(ctx context.Context, spec string, base app.Config) (*migrate.Opened, error) {
	cfg, err := migrate.Parse(spec, base)
	if err != nil {
		return nil, err
	}
	if cfg.Store == app.StoreSQLite {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
	}
	o, err := migrate.Open(ctx, cfg)
	if err != nil {
		return nil, flagError(err)
	}
	return o, nil
}

// quietLogger logs the backends' warnings and errors only.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
