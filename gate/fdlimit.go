package gate

import "syscall"

// RaiseFDLimit raises the process's soft RLIMIT_NOFILE to its hard limit
// and returns the soft limit in force afterwards (0 if it cannot be read).
// Every connection, store file and tor socket costs a descriptor, and the
// soft limit a service manager hands down (often 1024) is far below what
// the hard limit allows. Go's runtime already does this at start-up on
// Linux; doing it here as well makes the limit the caps are derived from
// the one really in force, whoever started the process.
func RaiseFDLimit() (soft int, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return clampInt(lim.Cur), err
		}
		lim = want
	}
	return clampInt(lim.Cur), nil
}

func clampInt(v uint64) int {
	const maxInt = int(^uint(0) >> 1)
	if v > uint64(maxInt) {
		return maxInt
	}
	return int(v)
}
