package httpapi

import (
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// FileSpec declares one file a client is about to upload (a file of an
// UploadRequest).
type FileSpec struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// PartSize, if set, is the client's choice of part size.
	PartSize int64 `json:"part_size,omitempty"`
	// PartSHA256, if set, is the SHA-256 of each part.
	PartSHA256 []string `json:"part_sha256,omitempty"`
}

func fileSpecsIn(specs []FileSpec) []registry.FileSpec {
	return convert(specs, func(f FileSpec) registry.FileSpec { return registry.FileSpec(f) })
}

// PartRequest is the HTTP request a client makes to upload one part: it
// sends exactly Method, URL and Headers, with a body of Size bytes read
// from Offset.
type PartRequest struct {
	Number  int               `json:"number"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Offset  int64             `json:"offset"`
	Size    int64             `json:"size"`
}

// FileTicket is one file's parts in an UploadTicket; Parts lists only the
// parts still to send.
type FileTicket struct {
	Path     string        `json:"path"`
	Size     int64         `json:"size"`
	PartSize int64         `json:"part_size"`
	Parts    []PartRequest `json:"parts"`
}

// UploadTicket is the answer to creating or refreshing an upload session:
// where to send each part.
type UploadTicket struct {
	UploadID  string       `json:"upload_id"`
	Model     string       `json:"model"`
	Version   int          `json:"version"`
	ExpiresAt time.Time    `json:"expires_at"`
	Files     []FileTicket `json:"files"`
}

func ticketOut(t registry.UploadTicket) UploadTicket {
	return UploadTicket{
		UploadID: t.UploadID, Model: t.Model, Version: t.Version, ExpiresAt: t.ExpiresAt,
		Files: convert(t.Files, func(f registry.FileTicket) FileTicket {
			return FileTicket{Path: f.Path, Size: f.Size, PartSize: f.PartSize,
				Parts: convert(f.Parts, func(p registry.PartRequest) PartRequest { return PartRequest(p) })}
		}),
	}
}

// DownloadLink is one artifact with a short-lived URL.
type DownloadLink struct {
	Artifact
	URL string `json:"url"`
}

// DownloadSet lists download links for a version's artifacts.
type DownloadSet struct {
	Model     string         `json:"model"`
	Version   int            `json:"version"`
	SourceURI string         `json:"source_uri,omitempty"`
	ExpiresAt time.Time      `json:"expires_at"`
	Files     []DownloadLink `json:"files"`
}

func downloadsOut(d registry.DownloadSet) DownloadSet {
	return DownloadSet{
		Model: d.Model, Version: d.Version, SourceURI: d.SourceURI, ExpiresAt: d.ExpiresAt,
		Files: convert(d.Files, func(f registry.DownloadLink) DownloadLink {
			return DownloadLink{Artifact: Artifact(f.Artifact), URL: f.URL}
		}),
	}
}
