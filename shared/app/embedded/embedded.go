// Package embedded provides the backends that keep their data on this
// machine, SQLite and the filesystem, to the composition root (app.Config's
// Embedded). It is its own package so that only binaries that run them
// (`modelreg serve`, the tests) link SQLite: a Lambda function imports
// package app alone.
package embedded

import (
	"context"
	"net/http"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// Backends opens the SQLite store and the filesystem artifacts.
type Backends struct{}

var _ app.Embedded = Backends{}

// OpenStore opens the SQLite store in the file path (created if missing).
func (Backends) OpenStore(_ context.Context, path string) (registry.Store, func() error, error) {
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Close, nil
}

// OpenArtifacts opens the filesystem artifacts under dir, signing their
// URLs (which start with baseURL) with key; blobs serves those URLs.
func (Backends) OpenArtifacts(dir, baseURL string, key []byte) (registry.Artifacts, http.Handler, func() error, error) {
	fsa, err := filesystem.New(dir, baseURL, key)
	if err != nil {
		return nil, nil, nil, err
	}
	return fsa, fsa.Handler(), fsa.Close, nil
}

// New is app.New with the embedded backends available (cfg.Embedded
// defaults to Backends).
func New(ctx context.Context, cfg app.Config) (*app.App, error) {
	if cfg.Embedded == nil {
		cfg.Embedded = Backends{}
	}
	return app.New(ctx, cfg)
}
