package dynamodb

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Records kept in more than one item: a version's tags beyond its own
// index slots (tag items) and an upload session's part digests (parts
// items). See "Commit" in the package doc for how they are written.

// Tags: the first TagSlots tags of a version (in key order) are indexed on
// the version item itself; the rest go to tag items of TagSlots tags each,
// so a version with at most TagSlots tags is one item.

// tagSlot is one indexed tag.
type tagSlot struct{ key, value string }

// tagItem holds index attributes for tags beyond the version item's slots.
type tagItem struct {
	itemKeys
	Model  string `dynamodbav:"model"`
	Number int    `dynamodbav:"number"`
}

// versionTags splits v's tags, in key order, into the version item's
// slots and the slots of its tag items, and returns a digest of what the
// tag items hold ("" when there are none).
func versionTags(v registry.Version) (own []tagSlot, spill [][]tagSlot, sum string) {
	keys := make([]string, 0, len(v.Tags))
	for k := range v.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var all []tagSlot
	for _, k := range keys {
		all = append(all, tagSlot{k, v.Tags[k]})
	}
	own = all[:min(len(all), TagSlots)]
	rest := all[len(own):]
	if len(rest) == 0 {
		return own, nil, ""
	}
	h := sha256.New()
	for len(rest) > 0 {
		n := min(len(rest), TagSlots)
		spill = append(spill, rest[:n])
		rest = rest[n:]
	}
	for _, t := range all[len(own):] {
		fmt.Fprintf(h, "%d:%s%d:%s", len(t.key), t.key, len(t.value), t.value)
	}
	return own, spill, hex.EncodeToString(h.Sum(nil))
}

// slotAttrs returns the tag index attributes of one item of version n.
func slotAttrs(model string, n int, slots []tagSlot) map[string]string {
	if len(slots) == 0 {
		return nil
	}
	m := map[string]string{AttrTagNumber: padNumber(n)}
	for i, t := range slots {
		m[tagKeyAttr(i+1)] = tagKeyPK(model, t.key)
		m[tagValueAttr(i+1)] = tagValuePK(model, t.key, t.value)
	}
	return m
}

type uploadFileAttr struct {
	Path      string `dynamodbav:"path"`
	Size      int64  `dynamodbav:"size"`
	SHA256    string `dynamodbav:"sha256"`
	PartSize  int64  `dynamodbav:"part_size"`
	Parts     int    `dynamodbav:"parts"`
	BackendID string `dynamodbav:"backend_id,omitempty"`
	Completed bool   `dynamodbav:"completed"`
}

// uploadItem is an upload session without its part digests, which are
// stored gzip-compressed (JSON: one array of digests per file): inline in
// PartDigests when that is small, otherwise split over upload parts items
// (see partItems).
type uploadItem struct {
	itemKeys
	ID           string           `dynamodbav:"id"`
	Model        string           `dynamodbav:"model"`
	Version      int              `dynamodbav:"version"`
	Status       string           `dynamodbav:"status"`
	Files        []uploadFileAttr `dynamodbav:"files,omitempty"`
	CreatedBy    string           `dynamodbav:"created_by,omitempty"`
	CreatedAt    string           `dynamodbav:"created_at"`
	UpdatedAt    string           `dynamodbav:"updated_at"`
	ExpiresAt    string           `dynamodbav:"expires"`
	Revision     int64            `dynamodbav:"revision"`
	PartDigests  []byte           `dynamodbav:"part_digests,omitempty"`
	PartItems    int              `dynamodbav:"part_items,omitempty"`
	PartItemsSum string           `dynamodbav:"part_items_sum,omitempty"`
}

// uploadPartsItem is one piece of a session's compressed part digests.
type uploadPartsItem struct {
	itemKeys
	Data []byte `dynamodbav:"data"`
}

// Part digest storage: up to inlineDigests compressed bytes live on the
// session item; more are cut into pieces of partsChunk bytes (each item
// stays below DynamoDB's 400 KB). 10,000 digests compress to about 370 KB.
const (
	inlineDigests = 32 << 10
	partsChunk    = 300 << 10
)

// toUploadItem returns the session's item and the blobs of its parts
// items (nil when the digests fit inline).
func toUploadItem(u registry.UploadSession) (uploadItem, [][]byte, error) {
	it := uploadItem{
		itemKeys: uploadKeys(u),
		ID:       u.ID, Model: u.Model, Version: u.Version, Status: string(u.Status), CreatedBy: u.CreatedBy,
		CreatedAt: timeKey(u.CreatedAt), UpdatedAt: timeKey(u.UpdatedAt), ExpiresAt: timeKey(u.ExpiresAt), Revision: u.Revision,
	}
	var digests [][]string
	hasDigests := false
	for _, f := range u.Files {
		it.Files = append(it.Files, uploadFileAttr{Path: f.Path, Size: f.Size, SHA256: f.SHA256, PartSize: f.PartSize,
			Parts: f.Parts, BackendID: f.BackendID, Completed: f.Completed})
		digests = append(digests, f.PartSHA256)
		hasDigests = hasDigests || len(f.PartSHA256) > 0
	}
	if !hasDigests {
		return it, nil, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(digests); err != nil {
		return it, nil, fmt.Errorf("encode part digests of upload %s: %w", u.ID, err)
	}
	if err := zw.Close(); err != nil {
		return it, nil, fmt.Errorf("compress part digests of upload %s: %w", u.ID, err)
	}
	blob := buf.Bytes()
	if len(blob) <= inlineDigests {
		it.PartDigests = blob
		return it, nil, nil
	}
	var chunks [][]byte
	for len(blob) > 0 {
		n := min(len(blob), partsChunk)
		chunks = append(chunks, blob[:n])
		blob = blob[n:]
	}
	sum := sha256.Sum256(buf.Bytes())
	it.PartItems, it.PartItemsSum = len(chunks), hex.EncodeToString(sum[:])
	return it, chunks, nil
}

// uploadKeys are a session's keys: in index gsi1 under UPSWEEP while the
// upload sweeper may have to handle it (OPEN, by expiry; EXPIRING, at the
// zero time so that it is always due).
func uploadKeys(u registry.UploadSession) itemKeys {
	k := itemKeys{PK: uploadPK(u.ID), SK: skUpload, Kind: kindUpload}
	switch u.Status {
	case registry.UploadOpen:
		k.GSI1PK, k.GSI1SK = uploadSweepPartition, timeKey(u.ExpiresAt)+"#"+u.ID
	case registry.UploadExpiring:
		k.GSI1PK, k.GSI1SK = uploadSweepPartition, timeKey(time.Time{})+"#"+u.ID
	}
	return k
}

// uploadSweepPartition is the gsi1 partition of sessions to sweep.
const uploadSweepPartition = "UPSWEEP"

// record returns the session; parts are the data of its parts items in
// order (checked against PartItemsSum).
func (it uploadItem) record(parts [][]byte) (registry.UploadSession, error) {
	var p timeParser
	u := registry.UploadSession{
		ID: it.ID, Model: it.Model, Version: it.Version, Status: registry.UploadStatus(it.Status), CreatedBy: it.CreatedBy,
		CreatedAt: p.time(it.CreatedAt), UpdatedAt: p.time(it.UpdatedAt), ExpiresAt: p.time(it.ExpiresAt), Revision: it.Revision,
	}
	for _, f := range it.Files {
		u.Files = append(u.Files, registry.UploadFile{Path: f.Path, Size: f.Size, SHA256: f.SHA256, PartSize: f.PartSize,
			Parts: f.Parts, BackendID: f.BackendID, Completed: f.Completed})
	}
	if err := p.err("upload " + it.ID); err != nil {
		return u, err
	}
	blob := it.PartDigests
	if it.PartItems > 0 {
		blob = bytes.Join(parts, nil)
		sum := sha256.Sum256(blob)
		if len(parts) != it.PartItems || hex.EncodeToString(sum[:]) != it.PartItemsSum {
			return u, errTornUpload
		}
	}
	if len(blob) == 0 {
		return u, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return u, corrupt("upload "+it.ID+" part digests", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return u, corrupt("upload "+it.ID+" part digests", err)
	}
	var digests [][]string
	if err := json.Unmarshal(raw, &digests); err != nil || len(digests) != len(u.Files) {
		return u, corrupt("upload "+it.ID+" part digests", fmt.Errorf("%d digest lists for %d files: %v", len(digests), len(u.Files), err))
	}
	for i := range u.Files {
		u.Files[i].PartSHA256 = digests[i]
	}
	return u, nil
}

func versionLabel(model string, n int) string { return "version " + model + "/" + strconv.Itoa(n) }
