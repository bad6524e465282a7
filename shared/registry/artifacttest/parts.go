package artifacttest

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// SendParts PUTs each of f's parts (the presigned requests an upload
// ticket lists) with its slice of body, the whole file, as a client does,
// and fails t unless every part is accepted (2xx). For tests that need a
// completed upload; the contract suite's own sends check refusals too.
func SendParts(t testing.TB, f registry.FileTicket, body []byte) {
	t.Helper()
	for _, p := range f.Parts {
		req, err := http.NewRequest(p.Method, p.URL, bytes.NewReader(body[p.Offset:p.Offset+p.Size]))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range p.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("part %d of %s: %s", p.Number, f.Path, resp.Status)
		}
	}
}
