package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
)

// OpenAPI is the OpenAPI 3.0.3 document of the API, served at
// GET /v1/openapi.json. A test holds it to the route table.
//
//go:embed openapi.json
var OpenAPI []byte

func (a *api) openAPI(_ context.Context, _ *input) (any, error) {
	return json.RawMessage(OpenAPI), nil
}
