package emulator

import "testing"

// StartTest builds a server for opts, starts it on 127.0.0.1:0 and closes
// it when the test ends. It fails the test on any error.
func StartTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("emulator.Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
