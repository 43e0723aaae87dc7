package main

import (
	"log/slog"
	"syscall"
)

// minFileLimit is the open-file limit below which `runnel serve` and
// `runnel worker` warn at startup: sockets, step pipes, the store, watches
// and (for serve) log_storage.max_open_files log files share it.
const minFileLimit = 1024

// raiseFileLimit raises the soft RLIMIT_NOFILE of the process to its hard
// limit if it is below (the Go runtime already does so on Linux and keeps
// the original soft limit for step processes) and warns when the limit is
// below want. It returns the soft limit in force, 0 if it cannot be read.
func raiseFileLimit(log *slog.Logger, want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open file limit", "err", err)
		return 0
	}
	if lim.Cur < lim.Max {
		raised := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Info("cannot raise the open file limit to the hard limit", "limit", lim.Cur, "hard_limit", lim.Max, "err", err)
		} else {
			lim = raised
		}
	}
	if lim.Cur < want {
		log.Warn("the open file limit is low: jobs may fail for lack of file descriptors; raise it (ulimit -n, or LimitNOFILE= in a systemd unit)",
			"limit", lim.Cur, "hard_limit", lim.Max, "recommended", want)
	}
	return lim.Cur
}

// logFileBudget is how many job log files the server keeps open: the
// configured max_open_files, but at most half the process's open-file
// limit (when known) so sockets and step pipes keep the other half.
func logFileBudget(configured int, limit uint64) int {
	if limit == 0 || uint64(configured) <= limit/2 {
		return configured
	}
	return max(1, int(limit/2))
}
