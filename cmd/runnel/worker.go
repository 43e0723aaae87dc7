package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"runnel/cmd/runnel/config"
	"runnel/httpd/client"
	"runnel/jobs/worker"
)

// runWorker runs `runnel worker`: a remote worker (SPEC §9.5).
func runWorker(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "worker", "worker [--config FILE]\n\n"+
		"Runs a remote worker: it registers with the server named by server_url\n"+
		"(authenticated by the server's worker_token), takes steps whose tags it\n"+
		"has, runs them with the same shell runner as the built-in workers and\n"+
		"reports their logs and results. SIGTERM or SIGINT stop it cleanly:\n"+
		"no new steps, running ones get 30 s to finish.",
		"RUNNEL__SERVER_URL=http://runnel.internal:8080 RUNNEL__WORKER_TOKEN=$TOKEN \\\n"+
			"    RUNNEL__TAGS='[shell, gpu]' runnel worker\n"+
			"  runnel worker --config worker-config.yaml")
	configFlag := fs.String("config", "", "worker config file (default $RUNNEL_CONFIG, else ./worker-config.yaml if present)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: "unexpected arguments: " + fmt.Sprint(fs.Args())}
	}
	path := config.Path(*configFlag, e.environ, "worker-config.yaml")
	cfg, err := config.LoadWorker(path, e.environ)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, slog.LevelInfo, "text")
	raiseFileLimit(log, minFileLimit)
	c := client.New(cfg.ServerURL, cfg.WorkerToken)
	c.UserAgent = "runnel-worker/" + version
	w := worker.New(worker.Options{
		Server:        client.WorkerServer{Client: c},
		Name:          cfg.WorkerName,
		Tags:          cfg.Tags,
		Version:       version,
		MaxConcurrent: cfg.MaxConcurrent,
		PollInterval:  time.Duration(cfg.PollIntervalSecs) * time.Second,
		CacheDir:      cfg.WorkspaceCacheDir,
		Environ:       e.environ,
		Logger:        log,
	})
	log.Info("runnel worker starting", "server_url", cfg.ServerURL, "name", cfg.WorkerName, "version", version)
	err = w.Run(ctx)
	var refused *worker.RefusedError
	if errors.As(err, &refused) {
		var apiErr *client.APIError
		if errors.As(err, &apiErr) {
			return &exitError{code: 1, msg: "runnel worker: the server refused the registration: " + apiErr.Message}
		}
	}
	return err
}
