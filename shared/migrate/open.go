package migrate

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/registry"
)

// Opened is a registry opened for a copy. Close it.
type Opened struct {
	Side
	app   *app.App
	blobs *http.Server
}

// Service is the registry service on the opened backends.
func (o *Opened) Service() *registry.Service { return o.app.Service }

// Close stops the blob server (filesystem artifacts) and closes the
// backends.
func (o *Opened) Close() error {
	if o.blobs != nil {
		_ = o.blobs.Close()
	}
	return o.app.Close()
}

// Parse turns a backend spec into the store and artifacts settings of
// base (which holds the AWS endpoints, region and credentials):
//
//	sqlite:DIR                 SQLite in DIR/registry.db, files in DIR/artifacts
//	dynamodb:TABLE,s3:BUCKET   DynamoDB and S3 (s3:BUCKET/PREFIX for a key prefix)
//
// and any mix: dynamodb:TABLE,files:DIR; sqlite:DIR,s3:BUCKET. Invalid
// for anything else.
func Parse(spec string, base app.Config) (app.Config, error) {
	c := base
	c.Store, c.Artifacts = "", ""
	for _, part := range strings.Split(spec, ",") {
		kind, val, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || val == "" {
			return c, registry.Errorf(registry.Invalid, "backend %q: use sqlite:DIR, dynamodb:TABLE, s3:BUCKET or files:DIR, joined by commas", part)
		}
		switch kind {
		case "sqlite":
			c.Store, c.DataDir = app.StoreSQLite, val
		case "dynamodb":
			c.Store, c.AWS.DynamoDBTable = app.StoreDynamoDB, val
		case "s3":
			bucket, prefix, _ := strings.Cut(val, "/")
			c.Artifacts, c.AWS.S3Bucket, c.AWS.S3Prefix = app.ArtifactsS3, bucket, prefix
			if prefix != "" && !strings.HasSuffix(prefix, "/") {
				c.AWS.S3Prefix += "/"
			}
		case "files":
			if c.DataDir != "" && c.DataDir != val {
				return c, registry.Errorf(registry.Invalid, "backend %q: sqlite and files name different directories", spec)
			}
			c.Artifacts, c.DataDir = app.ArtifactsFilesystem, val
		default:
			return c, registry.Errorf(registry.Invalid, "backend %q: unknown kind %q: use sqlite, dynamodb, s3 or files", spec, kind)
		}
	}
	if c.Store == "" {
		return c, registry.Errorf(registry.Invalid, "backend %q names no store: add sqlite:DIR or dynamodb:TABLE", spec)
	}
	if c.Artifacts == "" {
		if c.Store != app.StoreSQLite {
			return c, registry.Errorf(registry.Invalid, "backend %q names no artifacts: add s3:BUCKET or files:DIR", spec)
		}
		c.Artifacts = app.ArtifactsFilesystem
	}
	c.Embedded = embedded.Backends{}
	c.Workflow, c.Events = app.WorkflowNone, app.EventsNone
	return c, nil
}

// Open opens cfg's backends for a copy. Filesystem artifacts get a blob
// server on a loopback port for their signed URLs while the copy runs.
func Open(ctx context.Context, cfg app.Config) (*Opened, error) {
	var ln net.Listener
	if cfg.Artifacts == app.ArtifactsFilesystem {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, err
	}
	o := &Opened{Side: Side{Store: a.Store, Artifacts: a.Artifacts}, app: a}
	if ln != nil {
		o.blobs = &http.Server{Handler: a.Blobs}
		go func() { _ = o.blobs.Serve(ln) }()
	}
	return o, nil
}

// Describe names cfg's backends for messages.
func Describe(cfg app.Config) string {
	s := cfg.Store
	switch cfg.Store {
	case app.StoreSQLite:
		s += " " + cfg.DataDir
	case app.StoreDynamoDB:
		s += " " + cfg.AWS.DynamoDBTable
	}
	if cfg.Artifacts == app.ArtifactsS3 {
		s += fmt.Sprintf(" + s3 %s/%s", cfg.AWS.S3Bucket, cfg.AWS.S3Prefix)
	} else {
		s += " + files"
	}
	return s
}
