package vision

import (
	"runtime"
	"syscall"
)

// lowerPriority moves the calling goroutine to its own OS thread with the
// lowest scheduling priority (nice 19), for the rest of the goroutine's
// life. Decode workers call it so that they fill the gaps ONNX Runtime's
// threads leave instead of preempting them in the middle of a parallel
// section, where the other threads would wait for the straggler; when the
// model is not busy (GPU, spare cores) they still get whole cores.
//
// The goroutine must exit without unlocking: the Go runtime then ends the
// thread rather than reusing it at the lowered priority.
func lowerPriority() {
	runtime.LockOSThread()
	// On Linux, setpriority with a thread id changes that thread only.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}
