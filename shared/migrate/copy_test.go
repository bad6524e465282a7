package migrate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/migrate"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

func base() app.Config {
	c := app.Config{Secret: bytes.Repeat([]byte("c"), 32), Logger: quiet}
	c.AWS.Region = "us-east-1"
	c.AWS.DynamoDBEndpoint = os.Getenv("MODELREG_DYNAMODB_ENDPOINT")
	c.AWS.S3Endpoint = os.Getenv("MODELREG_S3_ENDPOINT")
	c.AWS.Config = &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(
		os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY"), "")}
	c.AWS.CreateResources = true
	return c
}

func open(t *testing.T, spec string) (*migrate.Opened, app.Config) {
	t.Helper()
	cfg, err := migrate.Parse(spec, base())
	if err != nil {
		t.Fatal(err)
	}
	o, err := migrate.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, cfg
}

func awsSpec(t *testing.T) string {
	t.Helper()
	if os.Getenv("MODELREG_DYNAMODB_ENDPOINT") == "" || os.Getenv("MODELREG_S3_ENDPOINT") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DynamoDB Local and MinIO are not running: use scripts/test")
		}
		t.Skip("DynamoDB Local and MinIO are not running: scripts/test starts them")
	}
	s := strings.ToLower(registry.RandomToken(6))
	return "dynamodb:copy-" + s + ",s3:copy-" + s
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// populate fills a SQLite + files registry in dir through the service:
// a model with a policy, a READY version with a multipart file and a
// small one, a second READY version in Staging with an alias and a
// Production request waiting for approval, a version waiting for files,
// and a deleted one. It returns the files by version.
func populate(t *testing.T, dir string) map[int]map[string][]byte {
	t.Helper()
	cfg, err := migrate.Parse("sqlite:"+dir, base())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workflow, cfg.Handlers = app.WorkflowLocal, workflow.ServiceHandlers
	o, err := migrate.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	svc := o.Service()
	ctx := registry.WithPrincipal(t.Context(), registry.Principal{Name: "pat", Role: registry.RoleAdmin})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = svc.CreateModel(ctx, registry.NewModel{Name: "fraud", Description: "card fraud", Tags: map[string]string{"team": "risk"}})
	must(err)
	_, err = svc.SetPolicy(ctx, "fraud", registry.Policy{ApprovalsRequired: 1, Approvers: []string{"anna"}})
	must(err)
	files := map[int]map[string][]byte{}
	for i, sizes := range []map[string]int{{"model.bin": 11 << 20, "config.json": 100}, {"model.bin": 3 << 20}} {
		v, err := svc.RegisterVersion(ctx, "fraud", registry.NewVersion{Metrics: map[string]registry.Metric{"auc": {Value: 0.9 + float64(i)/100}}})
		must(err)
		files[v.Number] = map[string][]byte{}
		var specs []registry.FileSpec
		for p, n := range sizes {
			b := make([]byte, n)
			_, _ = rand.NewChaCha8([32]byte{byte(i), byte(n)}).Read(b)
			files[v.Number][p] = b
			specs = append(specs, registry.FileSpec{Path: p, Size: int64(n), SHA256: sum(b), PartSize: registry.MinPartSize})
		}
		ticket, err := svc.CreateUpload(ctx, "fraud", v.Number, specs)
		must(err)
		for _, f := range ticket.Files {
			for _, p := range f.Parts {
				req, _ := http.NewRequest(p.Method, p.URL, bytes.NewReader(files[v.Number][f.Path][p.Offset:p.Offset+p.Size]))
				for k, v := range p.Headers {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				must(err)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					t.Fatalf("part: %s", resp.Status)
				}
			}
		}
		_, err = svc.CompleteUpload(ctx, "fraud", v.Number, ticket.UploadID)
		must(err)
	}
	_, err = svc.Transition(ctx, "fraud", 2, registry.StageStaging, "beats 1")
	must(err)
	_, err = svc.SetAlias(ctx, "fraud", "champion", 2)
	must(err)
	_, err = svc.Transition(ctx, "fraud", 2, registry.StageProduction, "ready")
	must(err)
	_, err = svc.RegisterVersion(ctx, "fraud", registry.NewVersion{}) // 3: waits for files
	must(err)
	_, err = svc.RegisterVersion(ctx, "fraud", registry.NewVersion{}) // 4: deleted
	must(err)
	_, err = svc.DeleteVersion(ctx, "fraud", 4, "mistake")
	must(err)
	_, err = svc.AddDeployTarget(ctx, "fraud", registry.DeployTargetSpec{Kind: registry.TargetSageMaker, Endpoint: "fraud-prod",
		ImageURI: "123.dkr.ecr.eu-west-1.amazonaws.com/serve:1", RoleARN: "arn:aws:iam::123456789012:role/serve"})
	must(err)
	return files
}

// snapshot is everything a copy must carry, revisions zeroed.
type snapshot struct {
	Models    []registry.Model
	Versions  []registry.Version
	Aliases   []registry.Alias
	Approvals []registry.Approval
	Audit     []registry.AuditEntry
	Targets   []registry.DeployTarget
}

func take(t *testing.T, s registry.Store) snapshot {
	t.Helper()
	c := t.Context()
	var sn snapshot
	ms, err := s.ListModels(c, registry.ModelQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms.Items {
		m.Revision = 0
		sn.Models = append(sn.Models, m)
		vs, err := s.ListVersions(c, registry.VersionQuery{Model: m.Name, IncludeDeleted: true, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs.Items {
			v.Revision = 0
			if v.Status == registry.StatusPendingUpload {
				v.UploadID = ""
			}
			sn.Versions = append(sn.Versions, v)
		}
		as, _ := s.ListAliases(c, m.Name)
		for _, a := range as {
			a.Revision = 0
			sn.Aliases = append(sn.Aliases, a)
		}
		aps, _ := s.ListApprovals(c, registry.ApprovalQuery{Model: m.Name, Limit: 100})
		for _, a := range aps.Items {
			a.Revision = 0
			sn.Approvals = append(sn.Approvals, a)
		}
		au, _ := s.ListAudit(c, registry.AuditQuery{Model: m.Name, Limit: 1000})
		sn.Audit = append(sn.Audit, au.Items...)
		ts, _ := s.ListDeployTargets(c, m.Name)
		for _, d := range ts {
			d.Revision = 0
			sn.Targets = append(sn.Targets, d)
		}
	}
	return sn
}

func same(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	gv := reflect.ValueOf(got)
	wv := reflect.ValueOf(want)
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s: %s differ:\n got %+v\nwant %+v", what, gv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
}

func wantFiles(t *testing.T, s migrate.Side, files map[int]map[string][]byte) {
	t.Helper()
	for n, fs := range files {
		for p, want := range fs {
			u, err := s.Artifacts.PresignDownload(t.Context(), "fraud", n, p, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, want) {
				t.Errorf("version %d %s: %d bytes, not the source's %d", n, p, len(got), len(want))
			}
		}
	}
}

func written(st migrate.Stats) int {
	n := st.Files
	for _, c := range st.Written {
		n += c
	}
	return n
}

// TestCopyThereAndBack: SQLite + files → DynamoDB Local + MinIO carries
// every record and file; a second run writes nothing; a run cut off
// after the first file is finished by the next; and the AWS registry
// copies back to a new SQLite + files one unchanged.
func TestCopyThereAndBack(t *testing.T) {
	target := awsSpec(t)
	dir := t.TempDir()
	files := populate(t, dir)
	src, _ := open(t, "sqlite:"+dir)
	want := take(t, src.Store)
	if len(want.Versions) != 4 || len(want.Approvals) != 1 || len(want.Aliases) != 1 || len(want.Targets) != 1 {
		t.Fatalf("populate made %d versions, %d approvals, %d aliases, %d deploy targets", len(want.Versions), len(want.Approvals), len(want.Aliases), len(want.Targets))
	}

	// Cut off after the first file: the next run finishes.
	dst, _ := open(t, target)
	ctx, cancel := context.WithCancel(t.Context())
	c := &migrate.Copier{From: src.Side, To: dst.Side, Progress: func(string, int, string, int64) { cancel() }}
	if _, err := c.Run(ctx); err == nil {
		t.Fatal("a cancelled copy succeeded")
	}
	for _, v := range take(t, dst.Store).Versions {
		if v.Status == registry.StatusReady {
			for _, a := range v.Artifacts {
				if _, ok := files[v.Number][a.Path]; !ok {
					t.Errorf("READY version %d names %s", v.Number, a.Path)
				}
			}
		}
	}
	c = &migrate.Copier{From: src.Side, To: dst.Side}
	st, err := c.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Files+st.FilesThere != 3 || st.FilesThere < 1 {
		t.Errorf("files copied %d, there already %d; want 3 in all, at least one from the cut-off run", st.Files, st.FilesThere)
	}
	same(t, "sqlite → dynamodb", take(t, dst.Store), want)
	wantFiles(t, dst.Side, files)

	st, err = c.Run(t.Context())
	if err != nil || written(st) != 0 {
		t.Errorf("second run: %v, wrote %+v files %d", err, st.Written, st.Files)
	}

	back, _ := open(t, "sqlite:"+t.TempDir())
	if _, err := (&migrate.Copier{From: dst.Side, To: back.Side}).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	same(t, "dynamodb → sqlite", take(t, back.Store), want)
	wantFiles(t, back.Side, files)
}

func TestParse(t *testing.T) {
	for spec, want := range map[string][2]string{
		"sqlite:/d":           {app.StoreSQLite, app.ArtifactsFilesystem},
		"dynamodb:t,s3:b":     {app.StoreDynamoDB, app.ArtifactsS3},
		"sqlite:/d,s3:b/p":    {app.StoreSQLite, app.ArtifactsS3},
		"dynamodb:t,files:/d": {app.StoreDynamoDB, app.ArtifactsFilesystem},
	} {
		c, err := migrate.Parse(spec, app.Config{})
		if err != nil || c.Store != want[0] || c.Artifacts != want[1] {
			t.Errorf("%s: %s %s %v", spec, c.Store, c.Artifacts, err)
		}
	}
	for _, spec := range []string{"", "dynamodb:t", "mysql:x", "s3:b", "sqlite:"} {
		if _, err := migrate.Parse(spec, app.Config{}); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("%q: %v, want Invalid", spec, err)
		}
	}
}
