package vision

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// InstallCommand is the command that installs ONNX Runtime for apsql; error
// messages about a missing runtime repeat it.
const InstallCommand = "scripts/install-onnxruntime.sh"

// ErrRuntimeNotFound is returned when no ONNX Runtime shared library can be
// found or loaded; its message says how to install one.
var ErrRuntimeNotFound = errors.New("onnx runtime library not found")

// ErrNoCUDA is returned for DEVICE 'cuda' when the loaded ONNX Runtime has
// no usable CUDA execution provider.
var ErrNoCUDA = errors.New("cuda is not available")

// libName is the library's file name in onnxruntime-node and in ONNX
// Runtime's Linux releases.
const libName = "libonnxruntime.so.1"

var rt struct {
	mu   sync.Mutex
	path string // the library loaded, "" before InitRuntime succeeds
}

// InitRuntime loads ONNX Runtime once for the process. The library is, in
// order:
//   - libPath when it is not empty;
//   - else $ONNXRUNTIME_LIB when it is set;
//   - else lib/onnxruntime/libonnxruntime.so.1 (where InstallCommand puts
//     it) under the current directory or any directory above it, or beside
//     the executable or one directory above it;
//   - else libonnxruntime.so.1 in the system's library path.
//
// Calling it again is a no-op when the same library (or no particular one)
// is asked for; asking for a different library is an error, because a
// process cannot unload ONNX Runtime safely. A missing library is
// ErrRuntimeNotFound, with the install command in the message.
func InitRuntime(libPath string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if libPath == "" {
		libPath = os.Getenv("ONNXRUNTIME_LIB")
	}
	if rt.path != "" {
		if libPath != "" && !sameFile(libPath, rt.path) {
			return fmt.Errorf("onnx runtime is already loaded from %s; restart apsql to use %s", rt.path, libPath)
		}
		return nil
	}
	var candidates []string
	if libPath != "" {
		if _, err := os.Stat(libPath); err != nil {
			return fmt.Errorf("%w: %s: %v; install it with %s, or point ONNXRUNTIME_LIB at %s", ErrRuntimeNotFound, libPath, err, InstallCommand, libName)
		}
		candidates = []string{libPath}
	} else {
		candidates = searchPaths()
		candidates = append(candidates, libName) // the dynamic loader's search
	}
	var errs []string
	for _, c := range candidates {
		if strings.Contains(c, "/") {
			if _, err := os.Stat(c); err != nil {
				continue
			}
		}
		ort.SetSharedLibraryPath(c)
		// ONNX Runtime logs to stderr; every failure also comes back as an
		// error, and this package must not write to the terminal.
		err := ort.InitializeEnvironment(ort.WithLogLevelFatal())
		if err == nil {
			rt.path = c
			return nil
		}
		errs = append(errs, err.Error())
		if strings.Contains(c, "/") {
			// A file that exists but does not load is worth reporting as
			// it is rather than hiding behind a later candidate.
			return fmt.Errorf("load onnx runtime %s: %v; reinstall it with %s", c, err, InstallCommand)
		}
	}
	return fmt.Errorf("%w (tried $ONNXRUNTIME_LIB, lib/onnxruntime/%s and the system library path: %s): install it with %s (needs npm) and set ONNXRUNTIME_LIB to the path it prints",
		ErrRuntimeNotFound, libName, strings.Join(errs, "; "), InstallCommand)
}

// RuntimePath returns the ONNX Runtime library loaded, or "" before
// InitRuntime succeeds.
func RuntimePath() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.path
}

// searchPaths lists the places InstallCommand may have put the library:
// lib/onnxruntime under the working directory and its ancestors, and beside
// the executable (bin/apsql → lib/onnxruntime).
func searchPaths() []string {
	rel := filepath.Join("lib", "onnxruntime", libName)
	var out []string
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			out = append(out, filepath.Join(d, rel))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		out = append(out, filepath.Join(d, rel), filepath.Join(filepath.Dir(d), rel))
	}
	return out
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return os.SameFile(fa, fb)
}
