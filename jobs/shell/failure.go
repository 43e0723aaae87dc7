package shell

// Failure is the error message of a step that ran as r: r.Error, or for a
// process that ctx stopped the stop's cause (cause, the context's Cause),
// "Process stopped" without one. "" means the step succeeded.
func (r Result) Failure(cause error) string {
	if !r.Stopped {
		return r.Error
	}
	if cause != nil {
		return cause.Error()
	}
	return "Process stopped"
}
