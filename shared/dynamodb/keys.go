package dynamodb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/registry"
)

// Key layout (see doc.go for the full table). Model names, stages,
// statuses and tag keys never contain '#', so every key below splits
// unambiguously.
const (
	kindModel       = "model"
	kindVersion     = "version"
	kindTags        = "version_tags"
	kindAlias       = "alias"
	kindAudit       = "audit"
	kindApproval    = "approval"
	kindExecution   = "execution"
	kindUpload      = "upload"
	kindUploadParts = "upload_parts"
	kindEvent       = "event"
	kindIdempotency = "idempotency"

	skModel       = "MODEL"
	skApproval    = "APPROVAL"
	skExecution   = "EXECUTION"
	skUpload      = "UPLOAD"
	skEvent       = "EVENT"
	skIdempotency = "IDEMPOTENCY"
	prefixVersion = "V#"
	prefixTags    = "T#"
	prefixAlias   = "A#"
	prefixAudit   = "H#"
	prefixParts   = "P#"

	modelsPartition    = "MODELS"
	approvalsPartition = "AP"
	executionPartition = "EX"
	outboxPartition    = "OUTBOX"
)

// maxVersionNumber keeps padded version numbers sorting as numbers.
const maxVersionNumber = 9_999_999_999

func modelPK(name string) string              { return "M#" + name }
func versionSK(n int) string                  { return prefixVersion + padNumber(n) }
func tagsSK(n, i int) string                  { return prefixTags + padNumber(n) + "#" + strconv.Itoa(i) }
func aliasSK(name string) string              { return prefixAlias + name }
func auditSK(id string) string                { return prefixAudit + id }
func approvalPK(id string) string             { return "AP#" + id }
func executionPK(id string) string            { return "EX#" + id }
func uploadPK(id string) string               { return "UP#" + id }
func uploadPartsSK(i int) string              { return prefixParts + fmt.Sprintf("%04d", i) }
func eventPK(id string) string                { return "EV#" + id }
func padNumber(n int) string                  { return fmt.Sprintf("%010d", n) }
func timeIDKey(t time.Time, id string) string { return timeKey(t) + "#" + id }

// idempotencyPK is the partition of an idempotency record. Keys are
// caller-scoped strings of unbounded length; long ones are hashed to stay
// far below DynamoDB's 2 KB partition key limit (the record keeps the key).
func idempotencyPK(key string) string {
	if len(key) <= 512 {
		return "ID#" + key
	}
	sum := sha256.Sum256([]byte(key))
	return "ID#sha256:" + hex.EncodeToString(sum[:])
}

// Index partition keys.
func stagePK(model string, s registry.Stage) string   { return "VG#" + model + "#" + string(s) }
func statusPK(model string, s registry.Status) string { return "VS#" + model + "#" + string(s) }
func commitPK(model, commit string) string {
	// Commits of 7 bytes or more are filed under their first 7, so a
	// prefix query (at least 7) reads one partition; shorter ones (matched
	// exactly) under themselves. A cut through a UTF-8 character is filed
	// as "~x"+hex: DynamoDB keys must be valid UTF-8, and at 16 bytes it
	// cannot equal a 7-byte prefix.
	if len(commit) > registry.CommitPrefixLen {
		commit = commit[:registry.CommitPrefixLen]
		if !utf8.ValidString(commit) {
			commit = "~x" + hex.EncodeToString([]byte(commit))
		}
	}
	return "VC#" + model + "#" + commit
}
func datasetPK(model, id string) string      { return "VD#" + model + "#" + id }
func runPK(model, id string) string          { return "VR#" + model + "#" + id }
func tagKeyPK(model, key string) string      { return "VT#" + model + "#" + key }
func tagValuePK(model, key, v string) string { return "VV#" + model + "#" + key + "#" + v }
func auditVersionPK(model string, v int) string {
	return "HV#" + model + "#" + strconv.Itoa(v)
}
func stageFromPK(model string, s registry.Stage) string { return "HF#" + model + "#" + string(s) }
func stageToPK(model string, s registry.Stage) string   { return "HT#" + model + "#" + string(s) }
func approvalStatusPK(s registry.ApprovalStatus) string { return "APS#" + string(s) }
func approvalModelPK(model string) string               { return "APM#" + model }
func approvalModelStatusPK(model string, s registry.ApprovalStatus) string {
	return "APX#" + model + "#" + string(s)
}
func executionStatusPK(s registry.ExecutionStatus) string { return "EXS#" + string(s) }

// timeKey formats t as fixed-width UTC text with nanoseconds: exact, and
// sorting as text sorts by time (years 0001..9999).
func timeKey(t time.Time) string { return t.UTC().Format(timeKeyLayout) }

const timeKeyLayout = "2006-01-02T15:04:05.000000000Z"

func parseTimeKey(s string) (time.Time, error) {
	t, err := time.Parse(timeKeyLayout, s)
	return t.UTC(), err
}

// afterTime is the least sort key greater than every key "timeKey(t)#…":
// '$' follows '#'.
func afterTime(t time.Time) string { return timeKey(t) + "$" }

// parseNumber reads a padded version number from an index sort key.
func parseNumber(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0 && len(s) == 10
}
