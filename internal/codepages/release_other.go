//go:build !linux

package codepages

import "errors"

// Release does nothing where the process's mappings cannot be read as on
// Linux.
func Release() (uint64, error) {
	return 0, errors.ErrUnsupported
}
