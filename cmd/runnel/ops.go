package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"runnel/jobs"
	"runnel/logstore"
)

// This file holds the data-directory tools: backup, restore and compact.
// backup works against a running server (its API) or a stopped one (its
// data directory); restore and compact need the server stopped, which the
// database lock enforces.

func runBackup(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "backup", "backup [--server URL | --data-dir DIR [--log-dir DIR]] FILE\n\n"+
		"Writes a consistent snapshot of the job database and the logs of the jobs\n"+
		"in it to FILE (a .tar.gz; - for stdout). With --server (the default) the\n"+
		"running server makes it (GET /api/backup, admin only with auth on) without\n"+
		"stopping; with --data-dir the server must be stopped. Restore it with\n"+
		"'runnel restore'.",
		"runnel backup --server http://127.0.0.1:8080 runnel-backup.tar.gz")
	cf := addConnFlags(fs, false)
	dataDir := fs.String("data-dir", "", "back up this data_dir of a stopped server instead of asking one")
	logDir := fs.String("log-dir", "", "the log directory with --data-dir (default DIR/logs)")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{msg: "want one FILE argument (see 'runnel backup -h')"}
	}
	if *dataDir != "" && *cf.server != "" {
		return &usageError{msg: "--server and --data-dir exclude each other"}
	}
	start := time.Now()
	out, commit, err := createOutput(e, pos[0])
	if err != nil {
		return err
	}
	var what string
	if *dataDir != "" {
		var st jobs.BackupStats
		st, err = backupDataDir(out, *dataDir, *logDir)
		what = fmt.Sprintf("%d jobs, %d logs", st.Jobs, st.Logs)
	} else {
		what, err = backupServer(ctx, e, cf, out)
	}
	if err = commit(err); err != nil {
		return err
	}
	if pos[0] != "-" {
		size := int64(0)
		if fi, err := os.Stat(pos[0]); err == nil {
			size = fi.Size()
		}
		fmt.Fprintf(e.stderr, "Backup written to %s (%s, %s) in %s\n", pos[0], byteSize(size), what, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// createOutput opens FILE for writing (stdout for "-"). The file is written
// under a temporary name and renamed by commit(nil), so a failed backup
// never leaves a partial archive under the requested name.
func createOutput(e env, name string) (io.Writer, func(error) error, error) {
	if name == "-" {
		return e.stdout, func(err error) error { return err }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".part-*")
	if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", name, err)
	}
	commit := func(err error) error {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), name)
		}
		if err != nil {
			os.Remove(f.Name())
		}
		return err
	}
	return f, commit, nil
}

func backupDataDir(w io.Writer, dataDir, logDir string) (jobs.BackupStats, error) {
	if logDir == "" {
		logDir = filepath.Join(dataDir, "logs")
	}
	store, err := openStoppedStore(dataDir)
	if err != nil {
		return jobs.BackupStats{}, err
	}
	defer store.Close()
	logs, err := logstore.Open(logstore.Options{Dir: logDir})
	if err != nil {
		return jobs.BackupStats{}, err
	}
	defer logs.Close()
	return store.Backup(w, logs)
}

func backupServer(ctx context.Context, e env, cf *connFlags, w io.Writer) (string, error) {
	a, err := cf.open(e)
	if err != nil {
		return "", err
	}
	resp, err := a.client.Raw(ctx, "GET", "/api/backup", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return "", fmt.Errorf("download backup from %s: %w", a.server, err)
	}
	return "from " + a.server, nil
}

// openStoppedStore opens DIR/runnel.db of a stopped server for the offline
// tools (backup, compact, user reset-admin), saying so when a server holds it.
func openStoppedStore(dataDir string) (*jobs.Store, error) {
	dbPath := filepath.Join(dataDir, "runnel.db")
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("no runnel database in %s: %w", dataDir, err)
	}
	store := jobs.NewStore(dbPath, time.Second)
	if err := store.Open(); err != nil {
		if errors.Is(err, jobs.ErrLocked) {
			return nil, fmt.Errorf("data_dir %s is in use by a running runnel server: stop it first", dataDir)
		}
		return nil, err
	}
	return store, nil
}

func runRestore(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "restore", "restore FILE --data-dir DIR [--log-dir DIR]\n\n"+
		"Unpacks a backup made by 'runnel backup' into the data_dir of a stopped\n"+
		"server: DIR/runnel.db and the job logs (DIR/logs unless --log-dir). DIR must\n"+
		"not hold a database yet. Workspaces are not in a backup: the server clones\n"+
		"or reads them again at start.",
		"runnel restore runnel-backup.tar.gz --data-dir /var/lib/runnel")
	dataDir := fs.String("data-dir", "", "the data_dir to restore into (required)")
	logDir := fs.String("log-dir", "", "the log directory (default DIR/logs)")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{msg: "want one FILE argument (see 'runnel restore -h')"}
	}
	if *dataDir == "" {
		return &usageError{msg: "--data-dir is required"}
	}
	if *logDir == "" {
		*logDir = filepath.Join(*dataDir, "logs")
	}
	var in io.Reader = e.stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	start := time.Now()
	st, err := jobs.Restore(in, filepath.Join(*dataDir, "runnel.db"), *logDir)
	if errors.Is(err, jobs.ErrDataDirInUse) {
		return fmt.Errorf("%s already holds a runnel database: restore into an empty data_dir", *dataDir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Restored %d jobs and %d logs (%s) into %s in %s\n", st.Jobs, st.Logs,
		byteSize(st.DBBytes+st.LogBytes), *dataDir, time.Since(start).Round(time.Millisecond))
	return nil
}

func runCompact(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "compact", "compact --data-dir DIR\n\n"+
		"Rewrites DIR/runnel.db without its free pages, with the server stopped.\n"+
		"The database never shrinks by itself: run this after retention has\n"+
		"deleted many jobs, when the file is much larger than its content.",
		"runnel compact --data-dir /var/lib/runnel")
	dataDir := fs.String("data-dir", "", "the server's data_dir (required)")
	pos, err := parseArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: "unexpected arguments: " + strings.Join(pos, " ")}
	}
	if *dataDir == "" {
		return &usageError{msg: "--data-dir is required"}
	}
	start := time.Now()
	st, err := jobs.Compact(filepath.Join(*dataDir, "runnel.db"))
	if errors.Is(err, jobs.ErrLocked) {
		return fmt.Errorf("data_dir %s is in use by a running runnel server: stop it first", *dataDir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Compacted %s: %s -> %s in %s\n", filepath.Join(*dataDir, "runnel.db"),
		byteSize(st.Before), byteSize(st.After), time.Since(start).Round(time.Millisecond))
	return nil
}

// byteSize formats n bytes for people: 512 B, 3.4 KiB, 12.0 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
