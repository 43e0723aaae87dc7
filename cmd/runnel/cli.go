package main

// clientCommands are the API client subcommands (trigger, logs, jobs, …).
func clientCommands() []command {
	return nil
}
