//go:build !unix

package engine

import "errors"

// lockHolder cannot ask who locks a file here: openError then does not
// tell a lock from damage.
func lockHolder(string) (int, error) {
	return 0, errors.ErrUnsupported
}
