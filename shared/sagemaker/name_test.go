package sagemaker

import (
	"regexp"
	"strings"
	"testing"
)

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

func TestName(t *testing.T) {
	long := strings.Repeat("fraud_model.", 12)
	cases := []string{"fraud_model", "a", "_x", "A.B-C", long, strings.Repeat("-", 100), "-_-.a", "Ünïcode"}
	seen := map[string]string{}
	for _, m := range cases {
		for _, v := range []int{1, 42, 123456} {
			n := Name(m, v, "salt")
			if !namePattern.MatchString(n) || len(n) > MaxNameLen {
				t.Errorf("Name(%q, %d) = %q: breaks SageMaker's pattern or length", m, v, n)
			}
			if prev, dup := seen[n]; dup {
				t.Errorf("Name(%q, %d) = %q, same as %s", m, v, n, prev)
			}
			seen[n] = m
		}
	}
	if Name("fraud_model", 2, "s") != "fraud-model-v2-"+Name("fraud_model", 2, "s")[len("fraud-model-v2-"):] {
		t.Errorf("Name keeps no readable prefix: %s", Name("fraud_model", 2, "s"))
	}
	// Names that sanitize to the same text stay distinct.
	if Name("a.b", 1, "") == Name("a_b", 1, "") {
		t.Error("a.b and a_b share a name")
	}
	if Name("m", 1, "x") == Name("m", 1, "y") {
		t.Error("the salt does not change the name")
	}
	if Name("m", 1, "x") != Name("m", 1, "x") {
		t.Error("Name is not deterministic")
	}
}

func TestOutcome(t *testing.T) {
	for status, want := range map[string][2]bool{
		"InService": {true, true}, "IN_SERVICE": {true, true}, "Failed": {true, false}, "FAILED": {true, false},
		"Updating": {false, false}, "UPDATING": {false, false}, "Creating": {false, false}, "SystemUpdating": {false, false},
		"RollingBack": {false, false},
	} {
		done, ok := Status{Status: status}.Done()
		if done != want[0] || ok != want[1] {
			t.Errorf("%s: done=%v ok=%v, want %v", status, done, ok, want)
		}
	}
}
