//go:build linux || darwin

package filesystem

import (
	"io/fs"
	"syscall"
)

// freeSpaceOf returns the bytes of the disk holding dir that an
// unprivileged process may still use.
func freeSpaceOf(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// allocated returns the bytes the disk holds for a file: less than its
// size while it is sparse.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
