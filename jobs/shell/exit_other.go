//go:build !linux

package shell

import "errors"

// errNoWaitUnsupported reports that waitExited cannot wait without reaping
// on this system; the caller then reaps with cmd.Wait instead.
var errNoWaitUnsupported = errors.New("waitid WNOWAIT unsupported")

// waitExited is not implemented outside Linux: Run reaps the leader first
// and kills the rest of its group just after (a pid-reuse window of
// microseconds).
func waitExited(pid int) error { return errNoWaitUnsupported }
