// Package failpoint kills the process at named points so crash-safety tests
// can stop a real server exactly where they want (before a commit, after
// it, halfway through a part). Points are armed only by the
// MODELREG_FAILPOINTS environment variable, read once at start:
//
//	MODELREG_FAILPOINTS="store.before-commit"     first hit kills
//	MODELREG_FAILPOINTS="artifacts.mid-part=3"    third hit kills
//
// Several points are separated by commas. With the variable unset, Hit is
// one atomic load.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Env is the environment variable that arms failpoints.
const Env = "MODELREG_FAILPOINTS"

// The failpoints the registry defines.
const (
	StoreBeforeCommit = "store.before-commit" // inside the transaction, before it commits
	StoreAfterCommit  = "store.after-commit"  // right after the transaction committed
	ArtifactsMidPart  = "artifacts.mid-part"  // after half of an uploaded part was written
	// PromotionBeforeCommit: in the workflow's Promote step, after the
	// approval's decisions were read and the change to Production was
	// built, before it commits.
	PromotionBeforeCommit = "promotion.before-commit"
	// PromotionAfterCommit: right after the Promote step committed, before
	// the workflow engine records that the step ended.
	PromotionAfterCommit = "promotion.after-commit"
	// RedeployBeforeDeliver: in the redeploy consumer, with a Production
	// change committed and its event taken from the outbox, before the
	// webhook's deployment is recorded or sent.
	RedeployBeforeDeliver = "redeploy.before-deliver"
	// RenameAfterBatch: after each committed batch of a model rename
	// (the lock's, the copy's and the moves' Changes), before the next.
	RenameAfterBatch = "rename.after-batch"
	// RenameAfterFlip: right after a rename's flip committed, before the
	// old name's copies are cleaned up.
	RenameAfterFlip = "rename.after-flip"
)

var (
	armed atomic.Bool
	mu    sync.Mutex
	left  map[string]int
)

func init() { arm(os.Getenv(Env)) }

func arm(spec string) {
	mu.Lock()
	defer mu.Unlock()
	left = map[string]int{}
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, count, _ := strings.Cut(p, "=")
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			n = 1
		}
		left[name] = n
	}
	armed.Store(len(left) > 0)
}

// Hit kills the process with SIGKILL if the point name is armed and this
// is the hit it waits for. It does nothing otherwise.
func Hit(name string) {
	if !armed.Load() {
		return
	}
	mu.Lock()
	n, ok := left[name]
	if ok {
		n--
		left[name] = n
	}
	mu.Unlock()
	if ok && n == 0 {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
