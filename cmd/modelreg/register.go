package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"golang.org/x/text/unicode/norm"
)

func runRegister(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("register", "NAME [flags]")
	var metrics, params, tags, artifacts listFlag
	fs.Var(&metrics, "metric", "metric NAME=VALUE[@SOURCE] (source: training, validation; repeatable)")
	fs.Var(&params, "param", "parameter KEY=VALUE (repeatable)")
	fs.Var(&tags, "tag", "tag KEY=VALUE (repeatable)")
	fs.Var(&artifacts, "artifact", "file or directory to upload (repeatable)")
	source := fs.String("source", "", "external artifact location (s3://…) instead of uploading")
	description := fs.String("description", "", "description")
	dataset := fs.String("dataset", "", "dataset ID[@VERSION]")
	featureSet := fs.String("feature-set", "", "feature set version")
	runID := fs.String("run-id", "", "training job or run id (default: from TRAINING_JOB_NAME, MLFLOW_RUN_ID, GITHUB_RUN_ID)")
	started := fs.String("started-at", os.Getenv("MODELREG_RUN_STARTED_AT"), "training start time, RFC 3339 (env MODELREG_RUN_STARTED_AT)")
	ended := fs.String("ended-at", "", "training end time, RFC 3339 (default: newest artifact's modification time)")
	entry := fs.String("entry-point", "", "training entry script")
	image := fs.String("image-uri", "", "training image URI")
	gitRepo := fs.String("git-repo", "", "git repository (default: detected)")
	gitCommit := fs.String("git-commit", "", "git commit (default: detected)")
	noGit := fs.Bool("no-git", false, "do not detect git lineage")
	parallel := fs.Int("parallel", 4, "parts uploaded at once")
	noCreate := fs.Bool("no-create", false, "fail (exit 3) if model NAME does not exist, instead of creating it")
	dvcFile := fs.String("dvc", "", "a .dvc file (dvc add) whose output this version is: recorded as tags and, with no --artifact, its location in the DVC remote as source")
	dvcLock := fs.String("dvc-lock", "", "a dvc.lock whose stages' dependency hashes are recorded (with --dvc)")
	wandb := fs.String("wandb-artifact", "", "a W&B artifact ENTITY/PROJECT/NAME:VERSION recorded as lineage (nothing is fetched)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("register takes one model NAME, got %d arguments", len(pos))
	}
	if *source != "" && len(artifacts) > 0 {
		return usagef("give --artifact or --source, not both")
	}
	model := pos[0]
	in := httpapi.RegisterRequest{Description: *description, Source: *source}
	if in.Metrics, err = parseMetrics(metrics); err != nil {
		return err
	}
	if in.Params, err = keyValues("param", params); err != nil {
		return err
	}
	if in.Tags, err = keyValues("tag", tags); err != nil {
		return err
	}
	files, err := collectArtifacts(artifacts)
	if err != nil {
		return err
	}
	if in.Lineage, err = detectLineage(files, *noGit, *gitRepo, *gitCommit, *entry, *image, *dataset, *featureSet, *runID, *started, *ended); err != nil {
		return err
	}
	if err := applyExternalLineage(&in, *dvcFile, *dvcLock, *wandb, len(files) > 0, *dataset != ""); err != nil {
		return err
	}
	// Hash before registering, so a missing or unreadable file registers nothing.
	prepared, err := prepareAll(files)
	if err != nil {
		return err
	}
	c := g.client()
	v, err := c.RegisterVersion(ctx, model, in)
	if client.IsStatus(err, http.StatusNotFound) {
		if *noCreate {
			return fmt.Errorf("model %s does not exist and --no-create is set: check the name, or create it with 'modelreg models create %s': %w", model, model, err)
		}
		if err = createMissingModel(ctx, c, model); err != nil {
			return err
		}
		v, err = c.RegisterVersion(ctx, model, in)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "registered %s version %d\n", model, v.Number)
	if len(prepared) > 0 {
		v, err = uploadNew(ctx, c, model, v.Number, prepared, *parallel)
		if err != nil {
			return fmt.Errorf("version %d is registered but its upload did not finish: %w\nfinish it with: modelreg upload %s %d --resume %s",
				v.Number, err, model, v.Number, strings.Join(artifacts, " "))
		}
	}
	if g.json() {
		return printJSON(out, v)
	}
	return printVersion(out, v)
}

// createMissingModel creates model for its first registration (as MLflow's
// register_model does) and says so on stderr, so that a typo in NAME does not
// pass unnoticed. A Conflict means a concurrent first registration (a sweep
// registering many candidates at once) created it first: the model exists,
// which is all this caller needs.
func createMissingModel(ctx context.Context, c *client.Client, model string) error {
	_, err := c.CreateModel(ctx, httpapi.NewModel{Name: model})
	switch {
	case err == nil:
		fmt.Fprintf(os.Stderr, "created model %s (it did not exist; --no-create refuses instead)\n", model)
		return nil
	case client.IsStatus(err, http.StatusConflict):
		return nil
	}
	return fmt.Errorf("create model %s: %w", model, err)
}

func runUpload(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("upload", "NAME VERSION PATH... [--resume]")
	resume := fs.Bool("resume", false, "finish the version's open upload: send only the parts not yet received")
	parallel := fs.Int("parallel", 4, "parts uploaded at once")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) < 3 {
		return usagef("upload takes NAME VERSION and at least one PATH")
	}
	model, number, err := modelVersionArgs(pos)
	if err != nil {
		return err
	}
	files, err := collectArtifacts(pos[2:])
	if err != nil {
		return err
	}
	c := g.client()
	var v httpapi.Version
	if *resume {
		v, err = resumeUpload(ctx, c, model, number, files, *parallel)
	} else {
		var prepared []client.LocalFile
		if prepared, err = prepareAll(files); err != nil {
			return err
		}
		v, err = uploadNew(ctx, c, model, number, prepared, *parallel)
	}
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, v)
	}
	return printVersion(out, v)
}

// artifactFile is a local file and the registry path it goes to.
type artifactFile struct {
	local, path string
	mtime       time.Time
}

// collectArtifacts expands --artifact arguments: a file goes up under its
// base name, a directory's files under their paths relative to it.
func collectArtifacts(args []string) ([]artifactFile, error) {
	var files []artifactFile
	seen := map[string]string{}
	add := func(local, path string, mtime time.Time) error {
		// macOS (HFS+) hands out names in decomposed form; the registry
		// stores NFC paths only, so the same name is one path everywhere.
		path = norm.NFC.String(filepath.ToSlash(path))
		if prev, dup := seen[path]; dup {
			return usagef("%s and %s would both be stored as %s", prev, local, path)
		}
		seen[path] = local
		files = append(files, artifactFile{local, path, mtime})
		return nil
	}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, usagef("artifact %s: %v", a, err)
		}
		before := len(seen)
		if !st.IsDir() {
			if err := add(a, filepath.Base(a), st.ModTime()); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			// Follow links to files (a Hugging Face snapshot is all links);
			// skip sockets, devices and links to directories.
			info, err := os.Stat(p)
			if err != nil {
				return usagef("artifact %s: %v", p, err)
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(a, p)
			if err != nil {
				return err
			}
			return add(p, rel, info.ModTime())
		})
		if err != nil {
			return nil, err
		}
		if len(seen) == before {
			return nil, usagef("artifact directory %s holds no files", a)
		}
	}
	return files, nil
}

func prepareAll(files []artifactFile) ([]client.LocalFile, error) {
	out := make([]client.LocalFile, 0, len(files))
	for _, f := range files {
		lf, err := client.PrepareFile(f.local, f.path)
		if err != nil {
			return nil, err
		}
		out = append(out, lf)
	}
	return out, nil
}

func uploadNew(ctx context.Context, c *client.Client, model string, number int, files []client.LocalFile, parallel int) (httpapi.Version, error) {
	specs := make([]httpapi.FileSpec, len(files))
	local := map[string]string{}
	for i, f := range files {
		specs[i] = f.Spec
		local[f.Spec.Path] = f.Local
	}
	ticket, err := c.CreateUpload(ctx, model, number, specs)
	if err != nil {
		return httpapi.Version{Number: number}, err
	}
	return sendAndComplete(ctx, c, ticket, local, parallel)
}

func resumeUpload(ctx context.Context, c *client.Client, model string, number int, files []artifactFile, parallel int) (httpapi.Version, error) {
	v, err := c.GetVersion(ctx, model, number)
	if err != nil {
		return v, err
	}
	if v.Status == registry.StatusReady {
		fmt.Fprintf(os.Stderr, "%s version %d is already READY\n", model, number)
		return v, nil
	}
	if v.Status == registry.StatusVerifying {
		return waitVerified(ctx, c, v)
	}
	if v.UploadID == "" {
		return v, usagef("%s version %d has no open upload to resume; run modelreg upload without --resume", model, number)
	}
	ticket, err := c.RefreshUpload(ctx, model, number, v.UploadID)
	if err != nil {
		return v, err
	}
	local := map[string]string{}
	for _, f := range files {
		local[f.path] = f.local
	}
	return sendAndComplete(ctx, c, ticket, local, parallel)
}

func sendAndComplete(ctx context.Context, c *client.Client, ticket httpapi.UploadTicket, local map[string]string, parallel int) (httpapi.Version, error) {
	var total int64
	for _, f := range ticket.Files {
		for _, p := range f.Parts {
			total += p.Size
		}
	}
	bar := newProgress("upload", total)
	err := c.UploadParts(ctx, ticket, local, parallel, bar.add)
	bar.finish(err == nil)
	if err != nil {
		return httpapi.Version{Number: ticket.Version}, err
	}
	v, err := c.CompleteUpload(ctx, ticket.Model, ticket.Version, ticket.UploadID)
	if err != nil {
		return httpapi.Version{Number: ticket.Version}, err
	}
	return waitVerified(ctx, c, v)
}

// waitVerified waits for a VERIFYING version (files too large to verify
// within the API's deadline are verified on the server in the
// background), saying so on stderr, until it is READY or FAILED.
func waitVerified(ctx context.Context, c *client.Client, v httpapi.Version) (httpapi.Version, error) {
	if v.Status != registry.StatusVerifying {
		return v, nil
	}
	fmt.Fprintf(os.Stderr, "%s version %d: the server verifies its files (SHA-256) in the background...\n", v.Model, v.Number)
	next := 10 * time.Second
	return c.WaitVerified(ctx, v, verifyPoll, func(elapsed time.Duration) {
		if elapsed >= next {
			fmt.Fprintf(os.Stderr, "%s version %d: still verifying after %s\n", v.Model, v.Number, elapsed.Round(time.Second))
			next += 10 * time.Second
		}
	})
}

// verifyPoll is how often the CLI looks at a VERIFYING version.
var verifyPoll = client.VerifyPollInterval

func parseMetrics(l []string) (map[string]httpapi.MetricInput, error) {
	if len(l) == 0 {
		return nil, nil
	}
	m := map[string]httpapi.MetricInput{}
	for _, kv := range l {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--metric %q: want NAME=VALUE[@SOURCE]", kv)
		}
		val, src, _ := strings.Cut(v, "@")
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, usagef("--metric %s: %q is not a number", k, val)
		}
		m[k] = httpapi.MetricInput{Value: f, Source: registry.MetricSource(src)}
	}
	return m, nil
}

// detectLineage fills lineage from flags, the git checkout around the
// current directory, and the environment of common training systems.
func detectLineage(files []artifactFile, noGit bool, repo, commit, entry, image, dataset, featureSet, runID, started, ended string) (httpapi.Lineage, error) {
	var l httpapi.Lineage
	l.Code.EntryPoint, l.Environment.ImageURI, l.Data.FeatureSetVersion = entry, image, featureSet
	l.Data.DatasetID, l.Data.DatasetVersion, _ = strings.Cut(dataset, "@")
	if !noGit {
		top := git("rev-parse", "--show-toplevel")
		if top != "" {
			l.Code.Commit = git("rev-parse", "HEAD")
			l.Code.Repo = git("config", "--get", "remote.origin.url")
			if l.Code.Repo == "" {
				l.Code.Repo = top
			}
			l.Code.Dirty = git("status", "--porcelain", "--untracked-files=no") != ""
			if h := fileSHA256(filepath.Join(top, "requirements.txt")); h != "" {
				l.Environment.RequirementsHash = "sha256:" + h
			}
		}
	}
	if repo != "" {
		l.Code.Repo = repo
	}
	if commit != "" {
		l.Code.Commit, l.Code.Dirty = commit, false
	}
	if l.Environment.RequirementsHash == "" {
		if h := fileSHA256("requirements.txt"); h != "" {
			l.Environment.RequirementsHash = "sha256:" + h
		}
	}
	l.Run.RunID = runID
	for _, k := range []string{"TRAINING_JOB_NAME", "MLFLOW_RUN_ID", "GITHUB_RUN_ID", "CODEBUILD_BUILD_ID"} {
		if l.Run.RunID == "" {
			l.Run.RunID = os.Getenv(k)
		}
	}
	if started != "" {
		t, err := time.Parse(time.RFC3339, started)
		if err != nil {
			return l, usagef("--started-at %q: want RFC 3339, e.g. 2026-11-24T09:00:00Z", started)
		}
		l.Run.StartedAt = &t
	}
	if ended != "" {
		t, err := time.Parse(time.RFC3339, ended)
		if err != nil {
			return l, usagef("--ended-at %q: want RFC 3339", ended)
		}
		l.Run.EndedAt = &t
	} else if len(files) > 0 {
		newest := files[0].mtime
		for _, f := range files {
			if f.mtime.After(newest) {
				newest = f.mtime
			}
		}
		newest = newest.UTC().Truncate(time.Second)
		if l.Run.StartedAt == nil || !newest.Before(*l.Run.StartedAt) {
			l.Run.EndedAt = &newest
		}
	}
	return l, nil
}

// git runs a git command in the current directory and returns its trimmed
// output, or "" when git or the repository is not there.
func git(args ...string) string {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func modelVersionArgs(pos []string) (string, int, error) {
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 1 {
		return "", 0, usagef("VERSION %q must be a positive number", pos[1])
	}
	return pos[0], n, nil
}
