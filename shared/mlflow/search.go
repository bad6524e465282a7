package mlflow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// Search is served from the stores' indexes: models by name (a name prefix
// is a key range), versions of a model newest first (by run id or one tag
// through the version indexes). Other conditions filter what those read:
// a substring or ILIKE match on names walks the whole models index (one
// read per model, in pages), a search of versions without `name = '…'`
// lists each model's versions in turn.

// Most results one search page answers (MLflow's own default for
// search_model_versions is 10,000, which its client sends).
const (
	maxModelResults   = 1000
	maxVersionResults = 10000
)

// searchToken is the state of a paged search: the service page token of
// the page being read (T) and how many of its items were already looked at
// (O); for versions, the models page (MT, MO) and the model (M) too. H
// binds it to the filter. The service signs its own tokens, so a forged
// one is refused.
type searchToken struct {
	H  string `json:"h"`
	MT string `json:"mt,omitempty"`
	MO int    `json:"mo,omitempty"`
	M  string `json:"m,omitempty"`
	T  string `json:"t,omitempty"`
	O  int    `json:"o,omitempty"`
}

func filterHash(kind, filter string, order []string) string {
	s := sha256.Sum256([]byte(kind + "\x00" + filter + "\x00" + strings.Join(order, ",")))
	return hex.EncodeToString(s[:8])
}

func (t searchToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeSearchToken(s, hash string) (searchToken, error) {
	var t searchToken
	if s == "" {
		return searchToken{H: hash}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.H != hash || t.O < 0 || t.MO < 0 {
		return t, invalid("invalid page_token: pass the next_page_token of the same search (same filter and order_by) unchanged")
	}
	return t, nil
}

// maxResults reads max_results: def when absent, 1..limit.
func maxResults(in *input, def, limit int64) (int, error) {
	n, err := in.integer("max_results", def)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > limit {
		return 0, invalid("max_results must be between 1 and %d, got %d", limit, n)
	}
	return int(n), nil
}

// checkOrder accepts the orderings the indexes serve.
func checkOrder(order []string, allowed ...string) error {
	for _, o := range order {
		norm := strings.Join(strings.Fields(strings.ToLower(o)), " ")
		ok := false
		for _, a := range allowed {
			if norm == a {
				ok = true
			}
		}
		if !ok {
			return invalid("order_by %q is not supported: modelreg orders registered models by name ASC and model versions by version_number DESC (accepted: %s)", o, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// modelWalk lists models passing the name clauses, from the index range
// they allow, resuming at tok.
type modelWalk struct {
	h      *handler
	exact  string // name = '…': one model
	prefix string
	names  []clause
	tags   []clause
}

func newModelWalk(h *handler, clauses []clause) modelWalk {
	w := modelWalk{h: h}
	for _, c := range clauses {
		if _, ok := c.tagKey(); ok {
			w.tags = append(w.tags, c)
			continue
		}
		if c.field != "name" {
			continue
		}
		w.names = append(w.names, c)
		switch c.op {
		case "=":
			w.exact = c.value
		case "LIKE":
			if p, _ := likePrefix(c.value); len(p) > len(w.prefix) {
				w.prefix = p
			}
		}
	}
	return w
}

func (w modelWalk) keep(m registry.Model) bool {
	for _, c := range w.names {
		if !c.match(m.Name) {
			return false
		}
	}
	for _, c := range w.tags {
		k, _ := c.tagKey()
		if !c.matchTag(m.Tags, k) {
			return false
		}
	}
	return true
}

// page returns one page of models from the service (the exact model when
// name = '…' is given).
func (w modelWalk) page(ctx context.Context, token string, size int) (registry.List[registry.Model], error) {
	if w.exact != "" {
		if token != "" {
			return registry.List[registry.Model]{}, nil
		}
		m, err := w.h.svc.GetModel(ctx, w.exact)
		if registry.IsCode(err, registry.NotFound) {
			return registry.List[registry.Model]{}, nil
		}
		if err != nil {
			return registry.List[registry.Model]{}, err
		}
		return registry.List[registry.Model]{Items: []registry.Model{m}}, nil
	}
	return w.h.svc.ListModels(ctx, w.prefix, token, size)
}

func (h *handler) searchModels(ctx context.Context, in *input) (any, error) {
	filter, err := in.str("filter")
	if err != nil {
		return nil, err
	}
	order, err := in.strs("order_by")
	if err != nil {
		return nil, err
	}
	if err := checkOrder(order, "name", "name asc"); err != nil {
		return nil, err
	}
	limit, err := maxResults(in, 100, maxModelResults)
	if err != nil {
		return nil, err
	}
	clauses, err := parseFilter(filter, "name")
	if err != nil {
		return nil, invalid("%v", err)
	}
	for _, c := range clauses {
		if c.op == "IN" {
			return nil, invalid("invalid filter %q: IN is not supported for registered models", filter)
		}
	}
	pt, err := in.str("page_token")
	if err != nil {
		return nil, err
	}
	hash := filterHash("models", filter, order)
	tok, err := decodeSearchToken(pt, hash)
	if err != nil {
		return nil, err
	}
	walk := newModelWalk(h, clauses)
	out := struct {
		RegisteredModels []wireModel `json:"registered_models"`
		NextPageToken    string      `json:"next_page_token,omitempty"`
	}{RegisteredModels: []wireModel{}}
	for {
		page, err := walk.page(ctx, tok.T, registry.MaxPageSize)
		if err != nil {
			return nil, err
		}
		for i := tok.O; i < len(page.Items); i++ {
			m := page.Items[i]
			if !walk.keep(m) {
				continue
			}
			als, err := h.svc.ListAliases(ctx, m.Name)
			if err != nil {
				return nil, err
			}
			out.RegisteredModels = append(out.RegisteredModels, toModel(m, nil, als))
			if len(out.RegisteredModels) == limit {
				next := searchToken{H: hash, T: tok.T, O: i + 1}
				if i+1 == len(page.Items) {
					next = searchToken{H: hash, T: page.NextPageToken}
				}
				if next.T != "" || next.O > 0 {
					out.NextPageToken = next.encode()
				}
				return out, nil
			}
		}
		if page.NextPageToken == "" {
			return out, nil
		}
		tok = searchToken{H: hash, T: page.NextPageToken}
	}
}

// versionSearch is a parsed search of versions.
type versionSearch struct {
	models modelWalk
	index  registry.VersionFilter
	number int // version_number = n
	rest   []clause
}

func (s versionSearch) keep(v registry.Version) bool {
	w := toVersion(v, nil, "")
	for _, c := range s.rest {
		var got string
		switch c.field {
		case "name":
			got = v.Model
		case "run_id":
			got = v.Lineage.Run.RunID
		case "source_path":
			got = w.Source
		case "version_number":
			got = strconv.Itoa(v.Number)
		default:
			k, _ := c.tagKey()
			if !c.matchTag(v.Tags, k) {
				return false
			}
			continue
		}
		if !c.match(got) {
			return false
		}
	}
	return true
}

func parseVersionSearch(h *handler, filter string) (versionSearch, error) {
	clauses, err := parseFilter(filter, "name", "run_id", "source_path", "version_number")
	if err != nil {
		return versionSearch{}, invalid("%v", err)
	}
	s := versionSearch{}
	var names []clause
	for _, c := range clauses {
		k, isTag := c.tagKey()
		switch {
		case c.field == "name":
			names = append(names, c)
		case c.field == "run_id" && c.op == "=" && s.index.RunID == "":
			s.index.RunID = c.value
		case c.field == "version_number" && c.op == "=" && s.number == 0:
			n, err := strconv.Atoi(c.value)
			if err != nil || n < 1 {
				return versionSearch{}, invalid("invalid filter %q: version_number must be a positive integer", filter)
			}
			s.number = n
		case isTag && c.op == "=" && s.index.Tag == "":
			s.index.Tag = k + "=" + c.value
		default:
			s.rest = append(s.rest, c)
		}
	}
	s.models = newModelWalk(h, names)
	return s, nil
}

// versionsOf returns one page of versions of model from the indexes.
func (s versionSearch) versionsOf(ctx context.Context, h *handler, model, token string, size int) (registry.List[registry.Version], error) {
	if s.number > 0 {
		if token != "" {
			return registry.List[registry.Version]{}, nil
		}
		v, err := h.svc.GetVersion(ctx, model, s.number)
		if registry.IsCode(err, registry.NotFound) {
			return registry.List[registry.Version]{}, nil
		}
		if err != nil {
			return registry.List[registry.Version]{}, err
		}
		if (s.index.RunID != "" && v.Lineage.Run.RunID != s.index.RunID) || !tagMatches(v, s.index.Tag) {
			return registry.List[registry.Version]{}, nil
		}
		return registry.List[registry.Version]{Items: []registry.Version{v}}, nil
	}
	return h.svc.ListVersions(ctx, model, s.index, token, size)
}

func tagMatches(v registry.Version, tag string) bool {
	if tag == "" {
		return true
	}
	k, val, _ := strings.Cut(tag, "=")
	got, ok := v.Tags[k]
	return ok && got == val
}

func (h *handler) searchVersions(ctx context.Context, in *input) (any, error) {
	filter, err := in.str("filter")
	if err != nil {
		return nil, err
	}
	order, err := in.strs("order_by")
	if err != nil {
		return nil, err
	}
	if err := checkOrder(order, "version_number desc", "name asc, version_number desc"); err != nil {
		return nil, err
	}
	limit, err := maxResults(in, maxVersionResults, maxVersionResults)
	if err != nil {
		return nil, err
	}
	s, err := parseVersionSearch(h, filter)
	if err != nil {
		return nil, err
	}
	pt, err := in.str("page_token")
	if err != nil {
		return nil, err
	}
	hash := filterHash("versions", filter, order)
	tok, err := decodeSearchToken(pt, hash)
	if err != nil {
		return nil, err
	}
	out := struct {
		ModelVersions []wireVersion `json:"model_versions"`
		NextPageToken string        `json:"next_page_token,omitempty"`
	}{ModelVersions: []wireVersion{}}
	size := min(limit, registry.MaxPageSize)
	for {
		models, err := s.models.page(ctx, tok.MT, registry.MaxPageSize)
		if err != nil {
			return nil, err
		}
		for mi := tok.MO; mi < len(models.Items); mi++ {
			m := models.Items[mi]
			if !s.models.keep(m) {
				continue
			}
			vt, vo := "", 0
			if tok.M == m.Name {
				vt, vo = tok.T, tok.O
			}
			for {
				page, err := s.versionsOf(ctx, h, m.Name, vt, size)
				if registry.IsCode(err, registry.NotFound) {
					break // deleted meanwhile
				}
				if err != nil {
					return nil, err
				}
				for i := vo; i < len(page.Items); i++ {
					v := page.Items[i]
					if !s.keep(v) {
						continue
					}
					w, err := h.versionOut(ctx, v)
					if err != nil {
						return nil, err
					}
					out.ModelVersions = append(out.ModelVersions, w)
					if len(out.ModelVersions) == limit {
						next := searchToken{H: hash, MT: tok.MT, MO: mi, M: m.Name, T: vt, O: i + 1}
						if i+1 == len(page.Items) {
							next.T, next.O = page.NextPageToken, 0
							if next.T == "" { // next model
								next.MO, next.M = mi+1, ""
								if next.MO == len(models.Items) {
									next.MT, next.MO = models.NextPageToken, 0
									if next.MT == "" {
										return out, nil
									}
								}
							}
						}
						out.NextPageToken = next.encode()
						return out, nil
					}
				}
				if page.NextPageToken == "" {
					break
				}
				vt, vo = page.NextPageToken, 0
			}
		}
		if models.NextPageToken == "" {
			return out, nil
		}
		tok = searchToken{H: hash, MT: models.NextPageToken}
	}
}
