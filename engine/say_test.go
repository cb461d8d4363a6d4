package engine

import (
	"testing"

	"github.com/apsql/apsql/model"
	"github.com/apsql/apsql/output"
)

// TestSay checks that numbers reach the renderer as numbers: plain without
// one, rendered by output.Human with it, and other arguments untouched.
func TestSay(t *testing.T) {
	const f = "%v %s (%v), %d requests"
	args := []any{model.Count(1234567), "items", model.Size(2_500_000), 3}
	if got, want := Say(nil, f, args...), "1234567 items (2500000), 3 requests"; got != want {
		t.Errorf("plain: %q, want %q", got, want)
	}
	s := NewSession(nil)
	s.Render = output.Human
	if got, want := s.Say(f, args...), "1,234,567 items (2.5 MB), 3 requests"; got != want {
		t.Errorf("human: %q, want %q", got, want)
	}
}
