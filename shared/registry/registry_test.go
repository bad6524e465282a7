package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []string
	for i := range 1000 {
		// The same millisecond many times, then later ones.
		ids = append(ids, NewID(base.Add(time.Duration(i/100)*time.Millisecond)))
	}
	if !slices.IsSorted(ids) {
		t.Fatal("IDs are not increasing")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatal("duplicate IDs")
	}
	if len(ids[0]) != 26 {
		t.Fatalf("ID %q is not 26 characters", ids[0])
	}
	later := NewID(base.Add(time.Hour))
	if later <= ids[len(ids)-1] {
		t.Fatalf("later ID %s does not sort after %s", later, ids[len(ids)-1])
	}
}

func TestValidatePath(t *testing.T) {
	good := []string{"model.bin", "a/b/c.json", "weights/part-0001.safetensors", "é.txt", "..a", "a..b/c"}
	bad := []string{"", "/abs", "../x", "a/../b", "a//b", "a/", "./a", "a/.", `a\b`, "a\x00b", "a\nb", strings.Repeat("x", 513), "\xff"}
	for _, p := range good {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want ok", p, err)
		}
	}
	for _, p := range bad {
		if err := ValidatePath(p); !IsCode(err, Invalid) {
			t.Errorf("ValidatePath(%q) = %v, want Invalid", p, err)
		}
	}
}

func TestValidateNames(t *testing.T) {
	for _, n := range []string{"a", "fraud_model", "Team.model-2", strings.Repeat("a", 128)} {
		if err := ValidateModelName(n); err != nil {
			t.Errorf("ValidateModelName(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", "-a", ".a", "a/b", "a b", strings.Repeat("a", 129), "ü", RunFilesDir} {
		if err := ValidateModelName(n); !IsCode(err, Invalid) {
			t.Errorf("ValidateModelName(%q) = %v, want Invalid", n, err)
		}
	}
	for _, n := range []string{"champion", "challenger-2", "b_1"} {
		if err := ValidateAliasName(n); err != nil {
			t.Errorf("ValidateAliasName(%q) = %v", n, err)
		}
	}
	if err := ValidateAliasName("a" + strings.Repeat("b", 63)); err != nil {
		t.Errorf("64-character alias refused: %v", err)
	}
	for _, k := range []string{"k", strings.Repeat("k", 128)} {
		if err := validateKey("tag", k); err != nil {
			t.Errorf("validateKey(%d characters) = %v", len(k), err)
		}
	}
	for _, k := range []string{"", ".k", "k k", strings.Repeat("k", 129)} {
		if err := validateKey("tag", k); !IsCode(err, Invalid) {
			t.Errorf("validateKey(%q) = %v, want Invalid", k, err)
		}
	}
	for _, arn := range []string{"arn:aws:iam::123456789012:role/x", "arn:aws-cn:iam::123456789012:role/a/" + strings.Repeat("r", 510)} {
		if !validRoleARN(arn) {
			t.Errorf("validRoleARN(%q) = false", arn)
		}
	}
	for _, arn := range []string{"arn:aws:iam::123456789012:role/", "arn:aws:iam::12345678901:role/x", "arn:aws:iam::123456789012:role/" + strings.Repeat("r", 513), "arn:aws:iam::123456789012:user/x"} {
		if validRoleARN(arn) {
			t.Errorf("validRoleARN(%.60q) = true", arn)
		}
	}
	for _, n := range []string{"latest", "Production", "staging", "1abc", "", "a.b", "a" + strings.Repeat("b", 64)} {
		if err := ValidateAliasName(n); !IsCode(err, Invalid) {
			t.Errorf("ValidateAliasName(%q) = %v, want Invalid", n, err)
		}
	}
}

func TestValidateMetrics(t *testing.T) {
	nan := map[string]Metric{"x": {Value: zero() / zero(), Source: SourceTraining}}
	if err := ValidateMetrics(nan); !IsCode(err, Invalid) {
		t.Errorf("NaN metric accepted: %v", err)
	}
	if err := ValidateMetrics(map[string]Metric{"x": {Value: 1, Source: "guess"}}); !IsCode(err, Invalid) {
		t.Errorf("unknown source accepted: %v", err)
	}
	many := map[string]Metric{}
	for i := range MaxMetrics + 1 {
		many[fmt.Sprintf("m%d", i)] = Metric{Value: 1, Source: SourceTraining}
	}
	if err := ValidateMetrics(many); !IsCode(err, Invalid) {
		t.Errorf("%d metrics accepted", len(many))
	}
}

func zero() float64 { return 0 }

func TestPartSize(t *testing.T) {
	cases := []struct {
		size      int64
		wantParts int
	}{
		{0, 1}, {1, 1}, {SinglePartMax, 1}, {SinglePartMax + 1, 2}, {50 << 20, 4},
		{1 << 30, 64}, {100 << 30, 6400},
	}
	for _, c := range cases {
		ps := PartSize(c.size)
		if got := PartCount(c.size, ps); got != c.wantParts {
			t.Errorf("size %d: part size %d gives %d parts, want %d", c.size, ps, got, c.wantParts)
		}
	}
	for _, size := range []int64{100 << 30, 1 << 40, MaxFileSize} {
		ps := PartSize(size)
		if n := PartCount(size, ps); n > MaxParts || ps > MaxPartSize || ps < MinPartSize {
			t.Errorf("size %d: part size %d, %d parts: outside S3's limits", size, ps, n)
		}
	}
	// Parts cover the file exactly.
	size, ps := int64(50<<20+3), int64(16<<20)
	var total int64
	for n := 1; n <= PartCount(size, ps); n++ {
		off, l := PartRange(size, ps, n)
		if off != total {
			t.Fatalf("part %d starts at %d, want %d", n, off, total)
		}
		total += l
	}
	if total != size {
		t.Fatalf("parts cover %d bytes, want %d", total, size)
	}
}

func TestPageTokens(t *testing.T) {
	s := &Service{cfg: Config{Secret: []byte(strings.Repeat("k", 32))}}
	tok := s.encodeToken("versions\x00a", "cursor-1")
	got, err := s.decodeToken("versions\x00a", tok)
	if err != nil || got != "cursor-1" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	// Another model's listing, a tampered cursor, garbage: all refused.
	if _, err := s.decodeToken("versions\x00b", tok); !IsCode(err, Invalid) {
		t.Errorf("token accepted for another scope: %v", err)
	}
	c, m, _ := strings.Cut(tok, ".")
	forged := s.encodeToken("versions\x00b", "cursor-9")
	_, fm, _ := strings.Cut(forged, ".")
	for _, bad := range []string{c + "." + fm, "x" + tok, "nodot", c + ".", "." + m} {
		if _, err := s.decodeToken("versions\x00a", bad); !IsCode(err, Invalid) {
			t.Errorf("decodeToken(%q) = %v, want Invalid", bad, err)
		}
	}
	if s.encodeToken("x", "") != "" {
		t.Error("an empty cursor must give an empty token")
	}
}

func TestHigherIsBetter(t *testing.T) {
	higher := []string{"accuracy", "f1", "auc", "precision", "recall", "throughput", "ndcg@10"}
	lower := []string{"loss", "val_loss", "error_rate", "rmse", "mae", "latency_p99", "perplexity", "wer", "train_time", "err"}
	for _, m := range higher {
		if !HigherIsBetter(m) {
			t.Errorf("%s: want higher is better", m)
		}
	}
	for _, m := range lower {
		if HigherIsBetter(m) {
			t.Errorf("%s: want lower is better", m)
		}
	}
	for spec, want := range map[string]bool{"loss:max": true, "accuracy:min": false} {
		_, h, err := ParseBy(spec)
		if err != nil || h != want {
			t.Errorf("ParseBy(%q) = %v, %v", spec, h, err)
		}
	}
	if _, _, err := ParseBy("acc:up"); !IsCode(err, Invalid) {
		t.Errorf("ParseBy(acc:up) = %v, want Invalid", err)
	}
}

func TestBestOf(t *testing.T) {
	order := []Version{{Number: 1}, {Number: 2}, {Number: 3}}
	if got := bestOf(map[int]float64{1: 0.5, 2: 0.9, 3: 0.9}, true, order); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("tie: got %v", got)
	}
	if got := bestOf(map[int]float64{1: 0.5, 3: 0.2}, false, order); !slices.Equal(got, []int{3}) {
		t.Errorf("min: got %v", got)
	}
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("outer: %w", Wrap(Conflict, ErrStale, "model changed"))
	if ErrorCode(err) != Conflict || !errors.Is(err, ErrStale) {
		t.Fatalf("code %s, is stale %v", ErrorCode(err), errors.Is(err, ErrStale))
	}
	if ErrorMessage(err) != "model changed" {
		t.Errorf("message %q", ErrorMessage(err))
	}
	if ErrorCode(errors.New("disk on fire")) != Internal || ErrorMessage(errors.New("disk on fire")) != "internal error" {
		t.Error("plain errors must be internal and hidden")
	}
	if ErrorCode(nil) != "" {
		t.Error("nil error has a code")
	}
}

func TestBackoff(t *testing.T) {
	if Backoff(1) != time.Second || Backoff(2) != 2*time.Second || Backoff(30) != 5*time.Minute {
		t.Errorf("backoff %v %v %v", Backoff(1), Backoff(2), Backoff(30))
	}
}

func TestRoles(t *testing.T) {
	want := map[Role][]Permission{
		RoleReader:    {PermRead},
		RolePublisher: {PermRead, PermPublish},
		RoleApprover:  {PermRead, PermApprove},
		RoleAdmin:     {PermRead, PermPublish, PermApprove, PermAdmin},
	}
	for role, perms := range want {
		for _, p := range []Permission{PermRead, PermPublish, PermApprove, PermAdmin} {
			if got := role.Allows(p); got != slices.Contains(perms, p) {
				t.Errorf("%s allows %s = %v", role, p, got)
			}
		}
	}
}

func TestMissingParts(t *testing.T) {
	for _, tc := range []struct {
		got   []int
		parts int
		want  string
	}{
		{[]int{1, 2}, 3, "part 3"},
		{[]int{1, 2, 4, 5, 6, 8}, 8, "parts 3, 7"},
		{nil, 64, "parts 1-64"},
		{[]int{2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22}, 22, "parts 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, … (11 in all)"},
	} {
		err := MissingParts("f.bin", tc.got, tc.parts)
		if !IsCode(err, Invalid) || ErrorMessage(err) != "file f.bin: "+tc.want+" missing" {
			t.Errorf("MissingParts(%v, %d) = %v, want %q", tc.got, tc.parts, err, tc.want)
		}
	}
	if err := MissingParts("f.bin", []int{1, 2, 3}, 3); err != nil {
		t.Errorf("all parts there: %v", err)
	}
}
