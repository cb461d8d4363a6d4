//go:build !linux

package vision

// lowerPriority does nothing outside Linux (see priority_linux.go).
func lowerPriority() {}
