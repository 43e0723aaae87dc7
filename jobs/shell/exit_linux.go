package shell

import (
	"errors"
	"syscall"
	"unsafe"
)

// errNoWaitUnsupported reports that waitExited cannot wait without reaping
// on this system; the caller then reaps with cmd.Wait instead.
var errNoWaitUnsupported = errors.New("waitid WNOWAIT unsupported")

const pPID = 1 // idtype_t P_PID

// waitExited blocks until process pid has exited, leaving it an unreaped
// zombie (waitid WNOWAIT), so that its pid — and so its process group id —
// cannot be reused before the caller has killed the rest of the group.
func waitExited(pid int) error {
	var info [16]uint64 // siginfo_t, 128 bytes; contents unused
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		case syscall.ENOSYS:
			return errNoWaitUnsupported
		default:
			return errno
		}
	}
}
