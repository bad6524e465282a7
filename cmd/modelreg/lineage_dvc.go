package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/httpapi"
	"gopkg.in/yaml.v3"
)

// dvcLineage is what a .dvc file (and a dvc.lock) say about a version: the
// tracked output (path relative to the DVC repository, md5, size), the
// default remote it is pushed to, the output's location there (source,
// when a remote is configured), and the pipeline's dependencies (path →
// "md5:HASH"). The Python client (clients/python, modelreg.lineage)
// records the same tags.
type dvcLineage struct {
	path, md5         string
	size              int64
	remote, remoteURL string
	source            string
	deps              map[string]string
}

type dvcOut struct {
	Path string `yaml:"path"`
	MD5  string `yaml:"md5"`
	Hash string `yaml:"hash"`
	Size int64  `yaml:"size"`
}

var dvcMD5 = regexp.MustCompile(`^[0-9a-f]{32}(\.dir)?$`)

// readDVC reads dvcFile (written by dvc add) and, if lockFile is set, the
// dependencies of every stage of that dvc.lock.
func readDVC(dvcFile, lockFile string) (dvcLineage, error) {
	var doc struct {
		Outs []dvcOut `yaml:"outs"`
	}
	data, err := os.ReadFile(dvcFile)
	if err != nil {
		return dvcLineage{}, usagef("--dvc %s: %v", dvcFile, err)
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return dvcLineage{}, usagef("--dvc %s: not a .dvc file: %v", dvcFile, err)
	}
	if len(doc.Outs) != 1 {
		return dvcLineage{}, usagef("--dvc %s: want a .dvc file with one entry under outs (written by dvc add), found %d", dvcFile, len(doc.Outs))
	}
	out := doc.Outs[0]
	if out.Path == "" || !dvcMD5.MatchString(out.MD5) {
		return dvcLineage{}, usagef("--dvc %s: its output has no path or no md5 (run dvc add or dvc commit)", dvcFile)
	}
	l := dvcLineage{path: out.Path, md5: out.MD5, size: out.Size}
	abs, err := filepath.Abs(dvcFile)
	if err != nil {
		return l, err
	}
	if root := dvcRoot(filepath.Dir(abs)); root != "" {
		if rel, err := filepath.Rel(root, filepath.Join(filepath.Dir(abs), out.Path)); err == nil {
			l.path = filepath.ToSlash(rel)
		}
		conf := readDVCConfig(root)
		if remote := conf["core"]["remote"]; remote != "" {
			if u := conf[`remote "`+remote+`"`]["url"]; u != "" {
				l.remote = remote
				loc := "files/md5/" + l.md5[:2] + "/" + l.md5[2:]
				if strings.Contains(u, "://") {
					l.remoteURL = u
					l.source = strings.TrimRight(u, "/") + "/" + loc
				} else {
					if !filepath.IsAbs(u) {
						u = filepath.Join(root, ".dvc", u)
					}
					l.remoteURL = filepath.Clean(u)
					l.source = (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(l.remoteURL, loc))}).String()
				}
			}
		}
	}
	if lockFile != "" {
		if l.deps, err = readDVCLock(lockFile); err != nil {
			return l, err
		}
	}
	return l, nil
}

// readDVCLock returns every stage's dependencies in a dvc.lock.
func readDVCLock(lockFile string) (map[string]string, error) {
	var doc struct {
		Stages map[string]struct {
			Deps []dvcOut `yaml:"deps"`
		} `yaml:"stages"`
	}
	data, err := os.ReadFile(lockFile)
	if err != nil {
		return nil, usagef("--dvc-lock %s: %v", lockFile, err)
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, usagef("--dvc-lock %s: not a dvc.lock: %v", lockFile, err)
	}
	if len(doc.Stages) == 0 {
		return nil, usagef("--dvc-lock %s: no stages (want the dvc.lock that dvc repro writes)", lockFile)
	}
	deps := map[string]string{}
	for _, st := range doc.Stages {
		for _, d := range st.Deps {
			if d.Path != "" && d.MD5 != "" {
				deps[d.Path] = "md5:" + d.MD5
			}
		}
	}
	return deps, nil
}

// dvcRoot returns the nearest directory at or above dir holding .dvc.
func dvcRoot(dir string) string {
	for {
		if st, err := os.Stat(filepath.Join(dir, ".dvc")); err == nil && st.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// readDVCConfig reads .dvc/config and .dvc/config.local (configobj INI:
// [core], ['remote "NAME"'], indented key = value lines).
func readDVCConfig(root string) map[string]map[string]string {
	conf := map[string]map[string]string{}
	for _, name := range []string{"config", "config.local"} {
		f, err := os.Open(filepath.Join(root, ".dvc", name))
		if err != nil {
			continue
		}
		section := ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case line == "" || line[0] == '#' || line[0] == ';':
			case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
				section = strings.Trim(strings.TrimSpace(line[1:len(line)-1]), "'")
			default:
				if k, v, ok := strings.Cut(line, "="); ok {
					if conf[section] == nil {
						conf[section] = map[string]string{}
					}
					conf[section][strings.TrimSpace(k)] = strings.TrimSpace(v)
				}
			}
		}
		f.Close()
	}
	return conf
}

var tagKeyBad = regexp.MustCompile(`[^A-Za-z0-9_.:/-]`)

// tags are the version tags recording l: dvc.path, dvc.md5, dvc.size,
// dvc.remote (NAME=URL) and one dvc.dep:PATH per pipeline dependency.
func (l dvcLineage) tags() map[string]string {
	t := map[string]string{"dvc.path": l.path, "dvc.md5": l.md5, "dvc.size": strconv.FormatInt(l.size, 10)}
	if l.remoteURL != "" {
		t["dvc.remote"] = l.remote + "=" + l.remoteURL
	}
	for p, h := range l.deps {
		k := tagKeyBad.ReplaceAllString("dvc.dep:"+p, "_")
		if len(k) > 128 {
			k = k[:128]
		}
		t[k] = h
	}
	return t
}

// codeSuffixes mark dependencies that are code or configuration rather
// than data.
var codeSuffixes = []string{".py", ".ipynb", ".sh", ".r", ".R", ".jl", ".scala", ".java", ".go", ".yaml", ".yml",
	".toml", ".cfg", ".ini", ".json", ".txt"}

// dataset is the data lineage l gives: the first (by path) pipeline
// dependency that is not code, as dataset id and version ("md5:HASH").
func (l dvcLineage) dataset() (id, version string) {
	paths := make([]string, 0, len(l.deps))
	for p := range l.deps {
		paths = append(paths, p)
	}
	sort.Strings(paths)
next:
	for _, p := range paths {
		for _, s := range codeSuffixes {
			if strings.HasSuffix(p, s) {
				continue next
			}
		}
		return p, l.deps[p]
	}
	return "", ""
}

var wandbRef = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*)/([A-Za-z0-9][A-Za-z0-9_.-]*)/([A-Za-z0-9][A-Za-z0-9_.-]*):([A-Za-z0-9][A-Za-z0-9_.-]*)$`)

// parseWandbArtifact parses ENTITY/PROJECT/NAME:VERSION (v3, latest or
// another alias). Nothing is fetched from W&B.
func parseWandbArtifact(ref string) (entity, project, name, alias string, err error) {
	m := wandbRef.FindStringSubmatch(ref)
	if m == nil {
		return "", "", "", "", usagef("--wandb-artifact %q: want ENTITY/PROJECT/NAME:VERSION, e.g. acme/churn/train-data:v3", ref)
	}
	return m[1], m[2], m[3], m[4], nil
}

// applyExternalLineage records the DVC and W&B lineage in in: tags (the
// caller's own tags win), the dataset unless --dataset gave one, and the
// DVC output's remote location as source when nothing is uploaded.
func applyExternalLineage(in *httpapi.RegisterRequest, dvcFile, dvcLock, wandb string, uploading, datasetGiven bool) error {
	if dvcLock != "" && dvcFile == "" {
		return usagef("--dvc-lock needs --dvc")
	}
	add := func(t map[string]string) {
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		for k, v := range t {
			if _, set := in.Tags[k]; !set {
				in.Tags[k] = v
			}
		}
	}
	if dvcFile != "" {
		d, err := readDVC(dvcFile, dvcLock)
		if err != nil {
			return err
		}
		add(d.tags())
		if id, v := d.dataset(); !datasetGiven && id != "" {
			in.Lineage.Data.DatasetID, in.Lineage.Data.DatasetVersion = id, v
		}
		if !uploading && in.Source == "" && d.source != "" {
			in.Source = d.source
		}
	}
	if wandb != "" {
		entity, project, name, alias, err := parseWandbArtifact(wandb)
		if err != nil {
			return err
		}
		add(map[string]string{"wandb.artifact": wandb})
		if !datasetGiven && in.Lineage.Data.DatasetID == "" {
			in.Lineage.Data.DatasetID = fmt.Sprintf("wandb:%s/%s/%s", entity, project, name)
			in.Lineage.Data.DatasetVersion = alias
		}
	}
	return nil
}
