package registry

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/internal/lazyre"
)

// Limits on what one record may hold. They keep a version record far below
// DynamoDB's 400 KB item limit: in the worst case metrics ≈ 200×220 B,
// params ≈ 200×630 B, tags ≈ 50×390 B, artifacts ≈ 100×600 B, lineage and
// description ≈ 16 KB, about 265 KB in all.
const (
	MaxMetrics        = 200
	MaxParams         = 200
	MaxTags           = 50
	MaxArtifacts      = 100
	MaxAliases        = 100
	MaxKeyLen         = 128 // metric, param and tag names
	MaxParamValueLen  = 500
	MaxTagValueLen    = 256
	MaxDescriptionLen = 5000
	MaxReasonLen      = 1000
	MaxLineageLen     = 1024 // each lineage string
	MaxPathLen        = 512
	MaxPageSize       = 1000
	DefaultPageSize   = 100
)

// The name patterns leave their length to a separate check (maxNameLen,
// maxAliasLen; ASCII only, so bytes are characters): a bounded repeat
// such as {0,127} compiles into a program as long as its bound, which made
// this package's init the largest part of a Lambda cold start.
var (
	modelNameRE = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	aliasRE     = lazyre.New(`^[A-Za-z][A-Za-z0-9_-]*$`)
	keyRE       = lazyre.New(`^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$`)
)

// Lengths of model names and tag/param/metric keys, and of aliases.
const (
	maxNameLen  = 128
	maxAliasLen = 64
)

// RunFilesDir is the name of the artifact stores' directory of MLflow run
// artifact files (tracking.Blobs: "runs/<path>" beside "<model>/<version>/"
// keys), so no model may have it as its name: with run artifacts on s3://,
// clients may write anything under it.
const RunFilesDir = "runs"

// ValidateModelName checks name against the domain's pattern; RunFilesDir
// is reserved.
func ValidateModelName(name string) error {
	if len(name) > maxNameLen || !modelNameRE.MatchString(name) {
		return Errorf(Invalid, "invalid model name %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	if name == RunFilesDir {
		return Errorf(Invalid, "model name %q is reserved: the artifact store keeps MLflow run artifacts under %s/", name, RunFilesDir)
	}
	return nil
}

// ValidateArtifact checks the names that locate one artifact: model,
// version and path. Artifacts adapters check it before a name reaches
// their storage (and add their storage's own limits). Invalid otherwise.
func ValidateArtifact(model string, version int, path string) error {
	if err := ValidateModelName(model); err != nil {
		return err
	}
	if version < 1 {
		return Errorf(Invalid, "invalid version %d: versions start at 1", version)
	}
	return ValidatePath(path)
}

// ValidateAliasName checks an alias name: a letter then up to 63 letters,
// digits, '_' or '-'; "latest" and stage names are reserved.
func ValidateAliasName(name string) error {
	if len(name) > maxAliasLen || !aliasRE.MatchString(name) {
		return Errorf(Invalid, "invalid alias %q: use a letter followed by up to 63 letters, digits, '_' or '-'", name)
	}
	if strings.EqualFold(name, "latest") {
		return Errorf(Invalid, "alias %q is reserved", name)
	}
	if _, err := ParseStage(name); err == nil {
		return Errorf(Invalid, "alias %q is reserved: it names a stage", name)
	}
	return nil
}

func validateKey(kind, k string) error {
	if len(k) > maxNameLen || !keyRE.MatchString(k) {
		return Errorf(Invalid, "invalid %s name %q: use 1-128 letters, digits, '_', '.', ':', '/' or '-'", kind, k)
	}
	return nil
}

// Free text (descriptions, reasons, comments, tag and param values) may
// hold any printable Unicode plus tab and newline, which MLflow
// descriptions and tag values legitimately contain. Every other C0 control
// (U+0000–U+001F), DEL (U+007F) and every C1 control (U+0080–U+009F) is
// refused: NUL truncates text in C tools, ESC starts the ANSI and OSC
// sequences that repaint an operator's terminal, and CR (U+000D) moves the
// cursor back to overwrite a line, so it is refused too (send "\n" line
// breaks, not "\r\n"). Identifiers stored as text (owner, lineage fields)
// are one line: they refuse tab and newline as well.

// ValidateText checks a free-text field: at most max bytes of valid UTF-8
// with no control character other than tab and newline. The error names
// the field, the character (as U+XXXX) and its position (1-based, in
// characters). Invalid.
func ValidateText(field, s string, max int) error {
	return checkText(field, s, max, true)
}

// ValidateLine checks a one-line text field like ValidateText, but refuses
// tab and newline too. Invalid.
func ValidateLine(field, s string, max int) error {
	return checkText(field, s, max, false)
}

func checkText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return Errorf(Invalid, "%s is %d bytes; at most %d", field, len(s), max)
	}
	n := 0
	for i, r := range s {
		n++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return Errorf(Invalid, "%s is not valid UTF-8: byte 0x%02x at character %d", field, s[i], n)
			}
		}
		if !isControl(r) || (multiline && (r == '\t' || r == '\n')) {
			continue
		}
		allowed := "tab and newline are the only control characters allowed"
		if !multiline {
			allowed = "it is one line of text: no control characters, tabs or line breaks"
		}
		return Errorf(Invalid, "%s contains the control character %s at character %d: %s", field, controlName(r), n, allowed)
	}
	return nil
}

// isControl reports whether r is a C0 control, DEL or a C1 control.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// c0Names are the standard abbreviations of the C0 controls.
var c0Names = [32]string{"NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF", "CR", "SO", "SI",
	"DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US"}

// controlName describes a control character: "U+001B (ESC)".
func controlName(r rune) string {
	switch {
	case r < 0x20:
		return fmt.Sprintf("U+%04X (%s)", r, c0Names[r])
	case r == 0x7f:
		return "U+007F (DEL)"
	case r == 0x9b:
		return "U+009B (CSI)"
	case r >= 0x80 && r <= 0x9f:
		return fmt.Sprintf("U+%04X (C1 control)", r)
	}
	return fmt.Sprintf("U+%04X", r)
}

// ValidateTags checks tag names, values and count.
func ValidateTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return Errorf(Invalid, "%d tags; at most %d", len(tags), MaxTags)
	}
	for k, v := range tags {
		if err := validateKey("tag", k); err != nil {
			return err
		}
		if err := ValidateText("tag "+k, v, MaxTagValueLen); err != nil {
			return err
		}
	}
	return nil
}

// ValidateMetrics checks metric names, values, sources and count.
func ValidateMetrics(m map[string]Metric) error {
	if len(m) > MaxMetrics {
		return Errorf(Invalid, "%d metrics; at most %d", len(m), MaxMetrics)
	}
	for k, v := range m {
		if err := validateKey("metric", k); err != nil {
			return err
		}
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return Errorf(Invalid, "metric %s is %v: metrics must be finite numbers", k, v.Value)
		}
		switch v.Source {
		case SourceTraining, SourceValidation, SourceProduction:
		default:
			return Errorf(Invalid, "metric %s has unknown source %q: use training, validation or production", k, v.Source)
		}
	}
	return nil
}

// ValidateParams checks parameter names, values and count.
func ValidateParams(p map[string]string) error {
	if len(p) > MaxParams {
		return Errorf(Invalid, "%d params; at most %d", len(p), MaxParams)
	}
	for k, v := range p {
		if err := validateKey("param", k); err != nil {
			return err
		}
		if err := ValidateText("param "+k, v, MaxParamValueLen); err != nil {
			return err
		}
	}
	return nil
}

// ValidateLineage checks the lineage fields (one line each, at most
// MaxLineageLen bytes) and the source URI (see ValidateSourceURI).
func ValidateLineage(l Lineage, allowFileSources bool) error {
	fields := map[string]string{
		"lineage.code.repo": l.Code.Repo, "lineage.code.commit": l.Code.Commit,
		"lineage.code.entry_point": l.Code.EntryPoint, "lineage.data.dataset_id": l.Data.DatasetID,
		"lineage.data.dataset_version": l.Data.DatasetVersion, "lineage.data.feature_set_version": l.Data.FeatureSetVersion,
		"lineage.run.run_id": l.Run.RunID, "lineage.environment.image_uri": l.Environment.ImageURI,
		"lineage.environment.requirements_hash": l.Environment.RequirementsHash, "lineage.source_uri": l.SourceURI,
	}
	for name, v := range fields {
		if err := ValidateLine(name, v, MaxLineageLen); err != nil {
			return err
		}
	}
	if l.SourceURI != "" {
		if err := ValidateSourceURI(l.SourceURI, allowFileSources); err != nil {
			return err
		}
	}
	if l.Run.StartedAt != nil && l.Run.EndedAt != nil && l.Run.EndedAt.Before(*l.Run.StartedAt) {
		return Errorf(Invalid, "lineage.run.ended_at is before started_at")
	}
	return nil
}

// SourceSchemes are the URI schemes a version's external source may have:
// the artifact stores a registry refers to (those of MLflow's artifact
// repositories, with Azure's wasbs and abfss). "file" is accepted only
// where the service allows it (Config.AllowFileSources: a server on one
// machine, whose users share its disk).
var SourceSchemes = []string{"s3", "gs", "wasbs", "abfss", "https", "http", "hdfs", "dbfs", "models", "runs", "mlflow-artifacts"}

// hostSchemes name a bucket, container or server in the host part.
var hostSchemes = []string{"s3", "gs", "wasbs", "abfss", "https", "http"}

// hasCredentials reports whether u carries a password or token in its
// user info. wasbs and abfss URIs name their container there
// (wasbs://container@account…), which is not a secret.
func hasCredentials(u *url.URL) bool {
	if u.User == nil {
		return false
	}
	_, hasPassword := u.User.Password()
	return hasPassword || (u.Scheme != "wasbs" && u.Scheme != "abfss")
}

// ValidateSourceURI checks an external artifact location: an absolute URI
// with one of SourceSchemes (or file, if allowFile) and a location
// (s3://bucket/key, https://host/path, models:/name/1, …), with no
// credentials in it. Invalid.
func ValidateSourceURI(s string, allowFile bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Path == "" && u.Opaque == "") {
		return Errorf(Invalid, "invalid source URI %q: give an absolute URI such as s3://bucket/prefix", s)
	}
	accepted := strings.Join(SourceSchemes, ", ")
	if allowFile {
		accepted += ", file"
	}
	switch {
	case u.Scheme == "file" && !allowFile:
		return Errorf(Invalid, "source URI %q: file URIs name a path on the server's own disk and are accepted only by a local server; use one of %s", s, accepted)
	case u.Scheme != "file" && !slices.Contains(SourceSchemes, u.Scheme):
		return Errorf(Invalid, "source URI %q: scheme %q is not an artifact store; use one of %s", s, u.Scheme, accepted)
	case hasCredentials(u):
		return Errorf(Invalid, "source URI %q carries credentials: record the location only and grant access to it apart", s)
	case slices.Contains(hostSchemes, u.Scheme) && u.Host == "":
		return Errorf(Invalid, "source URI %q names no bucket or host: write it as %s://HOST/PATH", s, u.Scheme)
	case u.Scheme == "file" && (u.Path == "" || !strings.HasPrefix(u.Path, "/") || (u.Host != "" && u.Host != "localhost")):
		return Errorf(Invalid, "source URI %q: a file URI names an absolute path on this machine, file:///PATH", s)
	}
	return nil
}

// ValidatePath checks an artifact path: relative, '/'-separated, no empty,
// '.' or '..' segments, no backslashes or control characters, valid UTF-8,
// at most MaxPathLen bytes.
func ValidatePath(p string) error {
	bad := func(why string) error { return Errorf(Invalid, "invalid artifact path %q: %s", p, why) }
	switch {
	case p == "":
		return bad("empty")
	case len(p) > MaxPathLen:
		return bad("longer than 512 bytes")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("absolute paths are not allowed")
	case strings.Contains(p, `\`):
		return bad("use '/' as the separator")
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return bad("control characters are not allowed")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return bad("empty path segment")
		case ".", "..":
			return bad("'.' and '..' segments are not allowed")
		}
	}
	return nil
}

// NormalizeSHA256 returns s as lowercase hex if it is a SHA-256 digest.
func NormalizeSHA256(s string) (string, error) {
	s = strings.ToLower(s)
	if len(s) != 64 {
		return "", Errorf(Invalid, "invalid sha256 %q: want 64 hex digits", s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", Errorf(Invalid, "invalid sha256 %q: want 64 hex digits", s)
	}
	return s, nil
}
