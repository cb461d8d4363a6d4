package engine

import (
	"fmt"

	"github.com/apsql/apsql/model"
)

// Render writes one argument of a line for people (a model.Count, a
// model.Size), returning false for the values it leaves to fmt. The
// program installs output.Human; domain packages never format numbers for
// people themselves.
type Render func(v any) (string, bool)

// Say is fmt.Sprintf for a line for people (a summary, a question, a row's
// detail): its model.Count and model.Size arguments, given with %v, are
// written by s.Render, or as plain numbers when none is installed.
func (s *Session) Say(format string, args ...any) string {
	return Say(s.Render, format, args...)
}

// Say is Session.Say with the renderer r (nil: plain numbers).
func Say(r Render, format string, args ...any) string {
	out := make([]any, len(args))
	for i, a := range args {
		if r != nil {
			if t, ok := r(a); ok {
				out[i] = t
				continue
			}
		}
		switch v := a.(type) {
		case model.Count:
			out[i] = int64(v)
		case model.Size:
			out[i] = int64(v)
		default:
			out[i] = a
		}
	}
	return fmt.Sprintf(format, out...)
}
