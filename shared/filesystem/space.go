package filesystem

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/modelreg/modelreg/shared/registry"
)

// KeepFree is the space an upload must leave free on the artifact disk, so
// that the database, the logs and the files being completed still fit when
// uploads fill the rest. (The space the operating system keeps for root is
// not counted as free to begin with.)
const KeepFree = 1 << 30

// errSpaceUnknown is what FreeSpace gives where the operating system offers
// no way to ask (see space_other.go); uploads are then not checked.
var errSpaceUnknown = errors.New("free space unknown on this system")

// SetFreeSpace replaces how a asks for the bytes free to it on its disk
// (by default the operating system's statfs of the root directory): tests
// give a small disk without filling one. Call it before serving requests.
func (a *Artifacts) SetFreeSpace(free func() (int64, error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.freeSpace = free
}

// checkSpaceLocked refuses to begin f (whose upload directory is key) when
// it would not fit on the disk with KeepFree to spare. A begun upload is a
// sparse file: it takes space only as its parts arrive, so the free space
// the disk reports does not yet count what begun uploads will still take.
// Those bytes are promised, and are counted here: the session's other
// files begun so far and every other upload in progress. The caller holds
// a.mu, so two sessions cannot both be promised the same bytes.
func (a *Artifacts) checkSpaceLocked(s registry.UploadSession, f registry.UploadFile, key string) error {
	if f.Size == 0 {
		return nil
	}
	freeSpace := a.freeSpace
	if freeSpace == nil {
		freeSpace = func() (int64, error) { return freeSpaceOf(a.root.Name()) }
	}
	free, err := freeSpace()
	if errors.Is(err, errSpaceUnknown) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("free space of the artifact disk: %w", err)
	}
	session, others, err := a.promisedLocked(s.ID, key)
	if err != nil {
		return fmt.Errorf("space promised to uploads: %w", err)
	}
	need := f.Size + session
	if free-others-need >= KeepFree {
		return nil
	}
	msg := fmt.Sprintf("not enough disk space for this upload: it needs %s (%s for %s", formatBytes(need), formatBytes(f.Size), f.Path)
	if session > 0 {
		msg += fmt.Sprintf(", %s for the files before it", formatBytes(session))
	}
	msg += fmt.Sprintf("), and the artifact disk has %s free", formatBytes(free))
	if others > 0 {
		msg += fmt.Sprintf(", of which other uploads in progress will take %s", formatBytes(others))
	}
	msg += fmt.Sprintf("; the server keeps %s free. Free space on the server or upload fewer bytes", formatBytes(KeepFree))
	return &registry.Error{Code: registry.InsufficientStorage, Message: msg}
}

// promisedLocked adds up the bytes that begun uploads still need, for
// session id and for all other sessions, leaving out the upload directory
// skip (the file being begun again).
func (a *Artifacts) promisedLocked(id, skip string) (session, others int64, err error) {
	sessions, err := a.readDir(uploadsDir)
	if err != nil {
		return 0, 0, err
	}
	for _, sid := range sessions {
		keys, err := a.readDir(filepath.Join(uploadsDir, sid))
		if err != nil {
			return 0, 0, err
		}
		for _, k := range keys {
			key := filepath.Join(uploadsDir, sid, k)
			if key == skip {
				continue
			}
			fi, err := a.root.Stat(filepath.Join(key, dataFile))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return 0, 0, err
			}
			hole := max(fi.Size()-allocated(fi), 0)
			if sid == id {
				session += hole
			} else {
				others += hole
			}
		}
	}
	return session, others, nil
}

// readDir lists the names in a directory; none if it does not exist.
func (a *Artifacts) readDir(name string) ([]string, error) {
	d, err := a.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// formatBytes writes n in binary units: "5.0 TiB", "69.8 GiB", "512 B".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
}
