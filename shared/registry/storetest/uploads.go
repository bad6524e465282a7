package storetest

import (
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var uploadSweepTests = []test{
	{"UploadsToSweep", withStore(testUploadsToSweep)},
}

// testUploadsToSweep: open sessions are due once their expiry is before
// the cutoff, soonest first; EXPIRING ones always, before them; other
// statuses never, and a session leaves the listing when it changes status.
func testUploadsToSweep(t *testing.T, s registry.Store) {
	c := ctx(t)
	mk := func(id string, expires time.Duration, st registry.UploadStatus) registry.UploadSession {
		u := upload(id, "m", 1)
		u.ExpiresAt, u.Status = at(expires), st
		return u
	}
	b, a := mk("up-b", time.Hour, registry.UploadOpen), mk("up-a", 2*time.Hour, registry.UploadOpen)
	tie := mk("up-c", time.Hour, registry.UploadOpen)
	x := mk("up-x", 5*time.Hour, registry.UploadExpiring)
	done := mk("up-d", 0, registry.UploadCompleted)
	gone := mk("up-e", 0, registry.UploadAborted)
	commit(t, s, &registry.Change{Uploads: []registry.UploadSession{a, b, tie, x, done, gone}})
	due := func(what string, before time.Time, limit int, want ...registry.UploadSession) {
		t.Helper()
		got, err := s.UploadsToSweep(c, before, limit)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if want == nil {
			want = []registry.UploadSession{}
		}
		if got == nil {
			got = []registry.UploadSession{}
		}
		assertEqual(t, what, got, want)
	}
	due("at the first expiry: only the EXPIRING one", at(time.Hour), 10, x)
	due("just after: ties by id", at(time.Hour+time.Microsecond), 10, x, b, tie)
	due("all open ones", at(3*time.Hour), 10, x, b, tie, a)
	due("limit", at(3*time.Hour), 2, x, b)

	// Refreshed (a later expiry), expired, and finished sessions move.
	b.ExpiresAt, b.Revision = at(4*time.Hour), b.Revision+1
	tie.Status, tie.Revision = registry.UploadExpiring, tie.Revision+1
	x.Status, x.Revision = registry.UploadExpired, x.Revision+1
	commit(t, s, &registry.Change{Uploads: []registry.UploadSession{b, tie, x}})
	due("after the changes", at(3*time.Hour), 10, tie, a)
	a.Status, a.Revision = registry.UploadCompleted, a.Revision+1
	tie.Status, tie.Revision = registry.UploadExpired, tie.Revision+1
	commit(t, s, &registry.Change{Uploads: []registry.UploadSession{a, tie}})
	due("once finished", at(3*time.Hour), 10)
	due("the refreshed one later", at(5*time.Hour), 10, b)

	_, err := s.UploadsToSweep(c, at(0), 0)
	wantCode(t, "limit 0", err, registry.Invalid)
}
