package lazyre

import (
	"sync"
	"testing"
)

func TestCompiledOnceOnFirstUse(t *testing.T) {
	r := New(`^a([0-9]+)$`)
	if r.re != nil {
		t.Fatal("compiled before first use")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); r.MatchString("a1") }()
	}
	wg.Wait()
	first := r.Get()
	if !r.MatchString("a12") || r.MatchString("b12") || r.Get() != first {
		t.Fatal("wrong match or compiled twice")
	}
	if m := r.FindStringSubmatch("a42"); len(m) != 2 || m[1] != "42" {
		t.Fatalf("submatch %q", m)
	}
	if r.String() != `^a([0-9]+)$` {
		t.Fatalf("String %q", r.String())
	}
}

func TestInvalidPatternPanicsOnUse(t *testing.T) {
	r := New(`(`)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for an invalid pattern")
		}
	}()
	r.MatchString("x")
}
