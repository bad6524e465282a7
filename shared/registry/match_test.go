package registry

import "testing"

func TestMatchCommit(t *testing.T) {
	const c = "a1b2c3d4e5f6"
	for _, tc := range []struct {
		commit, filter string
		want           bool
	}{
		{c, c, true},
		{c, c[:7], true},  // git's short hash
		{c, c[:6], false}, // shorter: exact only
		{"v1.2", "v1.2", true},
		{"v1.2.3", "v1.2", false},
		{c, "A1B2C3D", false}, // case-sensitive
		{c, c + "0", false},
		{"", "a1b2c3d", false},
	} {
		if got := MatchCommit(tc.commit, tc.filter); got != tc.want {
			t.Errorf("MatchCommit(%q, %q) = %v, want %v", tc.commit, tc.filter, got, tc.want)
		}
	}
}

func TestCheckPageSizeAndValidateArtifact(t *testing.T) {
	for n, ok := range map[int]bool{-1: false, 0: false, 1: true, MaxPageSize: true, MaxPageSize + 1: false} {
		if err := CheckPageSize(n); (err == nil) != ok || err != nil && !IsCode(err, Invalid) {
			t.Errorf("CheckPageSize(%d) = %v", n, err)
		}
	}
	for _, tc := range []struct {
		model   string
		version int
		path    string
		ok      bool
	}{
		{"m", 1, "a/b.bin", true},
		{"-m", 1, "a", false},
		{"m", 0, "a", false},
		{"m", 1, "../a", false},
		{"m", 1, "", false},
	} {
		if err := ValidateArtifact(tc.model, tc.version, tc.path); (err == nil) != tc.ok || err != nil && !IsCode(err, Invalid) {
			t.Errorf("ValidateArtifact(%q, %d, %q) = %v", tc.model, tc.version, tc.path, err)
		}
	}
}
