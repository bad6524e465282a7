package app

import (
	"context"
	"net/http"

	"github.com/modelreg/modelreg/shared/registry"
)

// Embedded opens the backends that keep their data on this machine:
// StoreSQLite and ArtifactsFilesystem. Package app/embedded implements it
// (embedded.Backends). It is an interface here, and not an import, so that
// a binary built for AWS links neither SQLite nor the filesystem adapter.
type Embedded interface {
	// OpenStore opens (creating if missing) the SQLite store in the file
	// path and returns it with the function that closes it.
	OpenStore(ctx context.Context, path string) (store registry.Store, closeStore func() error, err error)
	// OpenArtifacts opens the filesystem artifacts under dir, whose upload
	// and download URLs start with baseURL and are signed with key, and
	// returns them with blobs, the handler of those URLs, and the function
	// that closes them.
	OpenArtifacts(dir, baseURL string, key []byte) (arts registry.Artifacts, blobs http.Handler, closeArts func() error, err error)
}
