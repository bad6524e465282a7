package mlflow

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// A clause is one comparison of a search filter: `name = 'x'`,
// `name LIKE 'x%'`, `tags.k = 'v'`, `run_id IN ('a', 'b')`.
type clause struct {
	field string // "name", "run_id", "source_path", "version_number" or "tags.KEY"
	op    string // "=", "!=", "LIKE", "ILIKE", "IN"
	value string
	set   []string // IN's values
}

// tagKey returns the tag key of a tags.KEY clause and true, or "" and false.
func (c clause) tagKey() (string, bool) {
	return strings.CutPrefix(c.field, "tags.")
}

// match reports whether s passes the clause.
func (c clause) match(s string) bool {
	switch c.op {
	case "=":
		return s == c.value
	case "!=":
		return s != c.value
	case "LIKE":
		return likeRE(c.value, false).MatchString(s)
	case "ILIKE":
		return likeRE(c.value, true).MatchString(s)
	case "IN":
		for _, v := range c.set {
			if s == v {
				return true
			}
		}
	}
	return false
}

// matchTag reports whether tags pass a tags.KEY clause: a model without
// the tag passes only != (MLflow 3's client excludes prompts with
// tags.`mlflow.prompt.is_prompt` != 'true').
func (c clause) matchTag(tags map[string]string, key string) bool {
	v, ok := tags[key]
	if !ok {
		return c.op == "!="
	}
	return c.match(v)
}

// likePrefix returns the literal prefix of a LIKE pattern and whether the
// pattern is exactly that prefix followed by one '%' (an index range).
func likePrefix(pattern string) (prefix string, onlyPrefix bool) {
	i := strings.IndexAny(pattern, "%_")
	if i < 0 {
		return pattern, false
	}
	return pattern[:i], i == len(pattern)-1 && pattern[i] == '%'
}

// likeRE turns a SQL LIKE pattern into an anchored regular expression: '%'
// is any run of characters, '_' one character.
func likeRE(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	if fold {
		b.WriteString("(?i)")
	}
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString("(?s:.*)")
		case '_':
			b.WriteString("(?s:.)")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// parseFilter parses MLflow's search filter: comparisons joined by AND
// (case-insensitive). Identifiers are name, run_id, source_path,
// version_number, tags.KEY, tag.KEY or tags.`KEY with spaces`; values are
// single- or double-quoted strings (numbers for version_number); operators
// =, !=, LIKE, ILIKE and IN ('a', 'b'). fields lists the identifiers
// allowed (tags always are). An empty filter is no clause. A malformed
// filter is an error naming what is wrong and where.
func parseFilter(filter string, fields ...string) ([]clause, error) {
	p := &parser{s: filter}
	var out []clause
	p.space()
	if p.done() {
		return nil, nil
	}
	for {
		c, err := p.clause(fields)
		if err != nil {
			return nil, fmt.Errorf("invalid filter %q: %w", filter, err)
		}
		out = append(out, c)
		p.space()
		if p.done() {
			return out, nil
		}
		if !p.keyword("AND") {
			return nil, fmt.Errorf("invalid filter %q: expected AND at position %d, got %q (only AND joins clauses)", filter, p.i+1, p.rest())
		}
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

func (p *parser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

// keyword consumes kw (case-insensitive) when it stands alone here.
func (p *parser) keyword(kw string) bool {
	p.space()
	end := p.i + len(kw)
	if end > len(p.s) || !strings.EqualFold(p.s[p.i:end], kw) {
		return false
	}
	if end < len(p.s) && isIdent(rune(p.s[end])) {
		return false
	}
	p.i = end
	return true
}

func isIdent(r rune) bool {
	return r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func (p *parser) clause(fields []string) (clause, error) {
	p.space()
	field, err := p.identifier()
	if err != nil {
		return clause{}, err
	}
	p.space()
	var c clause
	c.field = field
	switch {
	case strings.HasPrefix(p.s[p.i:], "!="):
		c.op, p.i = "!=", p.i+2
	case strings.HasPrefix(p.s[p.i:], "="):
		c.op, p.i = "=", p.i+1
	case p.keyword("ILIKE"):
		c.op = "ILIKE"
	case p.keyword("LIKE"):
		c.op = "LIKE"
	case p.keyword("IN"):
		c.op = "IN"
	default:
		return clause{}, fmt.Errorf("expected an operator (=, !=, LIKE, ILIKE, IN) after %s at position %d, got %q", field, p.i+1, p.rest())
	}
	p.space()
	if c.op == "IN" {
		if field != "run_id" {
			return clause{}, fmt.Errorf("IN is supported for run_id only")
		}
		if c.set, err = p.list(); err != nil {
			return clause{}, err
		}
		return c, nil
	}
	if field == "version_number" {
		if c.op != "=" && c.op != "!=" {
			return clause{}, fmt.Errorf("version_number takes = or != only")
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i > start {
			c.value = p.s[start:p.i]
			return c, nil
		}
	}
	if c.value, err = p.str(); err != nil {
		return clause{}, err
	}
	if _, ok := c.tagKey(); !ok && !contains(fields, field) {
		return clause{}, fmt.Errorf("unknown field %q: use %s or tags.KEY", field, strings.Join(fields, ", "))
	}
	return c, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) identifier() (string, error) {
	start := p.i
	for p.i < len(p.s) && isIdent(rune(p.s[p.i])) {
		p.i++
	}
	id := p.s[start:p.i]
	// tags.`key with spaces` or tags."key"
	if (strings.EqualFold(id, "tags.") || strings.EqualFold(id, "tag.")) && p.i < len(p.s) {
		q := p.s[p.i]
		if q == '`' || q == '"' {
			p.i++
			end := strings.IndexByte(p.s[p.i:], q)
			if end < 0 {
				return "", fmt.Errorf("unterminated %c in the tag name at position %d", q, p.i)
			}
			key := p.s[p.i : p.i+end]
			p.i += end + 1
			if key == "" {
				return "", fmt.Errorf("empty tag name")
			}
			return "tags." + key, nil
		}
	}
	if id == "" {
		return "", fmt.Errorf("expected a field name at position %d, got %q", start+1, p.rest())
	}
	for _, pre := range []string{"tags.", "tag."} {
		if len(id) > len(pre) && strings.EqualFold(id[:len(pre)], pre) {
			return "tags." + id[len(pre):], nil
		}
	}
	if strings.Contains(id, ".") {
		return "", fmt.Errorf("unknown field %q", id)
	}
	return strings.ToLower(id), nil
}

// str reads a quoted string; a doubled quote inside is one quote.
func (p *parser) str() (string, error) {
	if p.done() || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("expected a quoted string at position %d, got %q", p.i+1, p.rest())
	}
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == q {
			if p.i+1 < len(p.s) && p.s[p.i+1] == q {
				b.WriteByte(q)
				p.i += 2
				continue
			}
			p.i++
			return b.String(), nil
		}
		b.WriteByte(c)
		p.i++
	}
	return "", fmt.Errorf("unterminated string")
}

func (p *parser) list() ([]string, error) {
	if p.done() || p.s[p.i] != '(' {
		return nil, fmt.Errorf("expected ( after IN at position %d", p.i+1)
	}
	p.i++
	var out []string
	for {
		p.space()
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.done() {
			return nil, fmt.Errorf("unterminated IN list")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ')':
			p.i++
			return out, nil
		default:
			return nil, fmt.Errorf("expected , or ) in the IN list at position %d", p.i+1)
		}
	}
}
