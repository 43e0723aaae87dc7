package tmpl

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Limits bound one render of one template (one field of a Value): gonja has
// no cancellation, so runnel checks these itself (SPEC §4.4).
type Limits struct {
	// Time is the wall-clock budget of one render (default 2 s).
	Time time.Duration
	// Output is the largest string, in bytes, a render may produce or build
	// on the way (default 1 MiB): string repetition, concatenation, padding
	// and the filters whose output grows with an argument are checked
	// against it before they allocate.
	Output int
}

// Default render budgets (SPEC §4.4, README "Templates").
const (
	DefaultTime   = 2 * time.Second
	DefaultOutput = 1 << 20
)

// DefaultLimits returns the budgets Render, Eval and Value.Render use.
func DefaultLimits() Limits { return Limits{Time: DefaultTime, Output: DefaultOutput} }

// withDefaults fills zero fields.
func (l Limits) withDefaults() Limits {
	if l.Time <= 0 {
		l.Time = DefaultTime
	}
	if l.Output <= 0 {
		l.Output = DefaultOutput
	}
	return l
}

// maxIterations bounds the loop iterations (summed over all loops, nested
// loops counting every inner pass) and macro calls of one render.
const maxIterations = 100_000

// maxItems bounds the length of a list built by '+' or a filter argument
// that sizes a list (batch, slice).
const maxItems = 1 << 20

// producedFactor bounds the bytes built by guarded operations over a whole
// render (strings made and thrown away in loops) to this many output budgets.
const producedFactor = 32

// budgetKey is the context name under which a render's budget travels to
// runnel's filters (templates cannot name it: reservedPrefix).
const budgetKey = reservedPrefix + "_budget"

// budget is the state of one render's limits. The render goroutine owns
// every field except stop, which the watchdog sets when time runs out; once
// err is set every later check fails, so a runaway render stops at its next
// loop pass, filter or operator.
type budget struct {
	lim      Limits
	deadline time.Time
	iter     int
	produced int
	err      *Error
	stop     atomic.Bool
}

func newBudget(lim Limits) *budget {
	lim = lim.withDefaults()
	return &budget{lim: lim, deadline: time.Now().Add(lim.Time)}
}

// fail records the first budget error and returns it.
func (b *budget) fail(msg string) *Error {
	if b.err == nil {
		b.err = &Error{Msg: msg}
	}
	return b.err
}

// timeMsg is the message of a render that ran out of time.
func (b *budget) timeMsg() string {
	return fmt.Sprintf("render exceeded the %s time budget", b.lim.Time)
}

// tick charges n loop iterations (or macro calls) and checks the clock.
func (b *budget) tick(n int) *Error {
	if b.err != nil {
		return b.err
	}
	if b.stop.Load() || time.Now().After(b.deadline) {
		return b.fail(b.timeMsg())
	}
	if n > maxIterations-b.iter {
		b.iter = maxIterations
		return b.fail(fmt.Sprintf("loops exceeded %d iterations", maxIterations))
	}
	b.iter += n
	return nil
}

// grow checks, before it is built, a string of n bytes made by what (an
// operator or filter), and charges it to the render.
func (b *budget) grow(what string, n int) *Error {
	if err := b.tick(0); err != nil {
		return err
	}
	if n > b.lim.Output || n < 0 {
		return b.fail(fmt.Sprintf("%s would make %s: exceeded the %s output budget", what, sizeText(n), sizeText(b.lim.Output)))
	}
	if n > producedFactor*b.lim.Output-b.produced {
		return b.fail(fmt.Sprintf("strings built exceeded %d times the %s output budget", producedFactor, sizeText(b.lim.Output)))
	}
	b.produced += n
	return nil
}

// output checks the size of a finished render.
func (b *budget) output(n int) *Error {
	if n < 0 || n > b.lim.Output {
		return b.fail(fmt.Sprintf("output of %s exceeded the %s output budget", sizeText(n), sizeText(b.lim.Output)))
	}
	return nil
}

// sizeText formats a byte count: "1 MiB", "1500 bytes".
func sizeText(n int) string {
	switch {
	case n < 0:
		return "more than 8 EiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// mulSize returns a*b, or -1 when it overflows or either is negative.
func mulSize(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	if a != 0 && b > math.MaxInt/a {
		return -1
	}
	return a * b
}

// addSize returns a+b, or -1 on overflow.
func addSize(a, b int) int {
	if a < 0 || b < 0 || a > math.MaxInt-b {
		return -1
	}
	return a + b
}

// budgetOf returns the budget of the render e belongs to. Every render puts
// one into its context; a filter reached some other way gets a fresh
// default budget rather than none.
func budgetOf(e *exec.Evaluator) *budget {
	if e == nil || e.Environment == nil {
		return newBudget(DefaultLimits())
	}
	return budgetIn(e.Environment.Context)
}

// budgetIn is budgetOf for a context.
func budgetIn(c *exec.Context) *budget {
	if c != nil {
		if v, ok := c.Get(budgetKey); ok {
			if b, ok := v.(*budget); ok {
				return b
			}
		}
	}
	return newBudget(DefaultLimits())
}

// budgetValue is a budget error as a gonja value (a marker, see errors.go).
func budgetValue(err *Error) *exec.Value {
	return markerError(err.Msg)
}

// limitedWriter is the renderer's output: it stops at the output budget
// instead of growing without bound.
type limitedWriter struct {
	b   *budget
	out strings.Builder
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if err := w.check(len(p)); err != nil {
		return 0, err
	}
	return w.out.Write(p)
}

func (w *limitedWriter) WriteString(s string) (int, error) {
	if err := w.check(len(s)); err != nil {
		return 0, err
	}
	return w.out.WriteString(s)
}

func (w *limitedWriter) check(n int) error {
	if err := w.b.tick(0); err != nil {
		return err
	}
	if err := w.b.output(addSize(w.out.Len(), n)); err != nil {
		return err
	}
	return nil
}

var _ io.StringWriter = (*limitedWriter)(nil)
