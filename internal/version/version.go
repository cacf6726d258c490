// Package version reports the build's version, set at link time by the Makefile.
package version

import "runtime/debug"

// Version is overridden with -ldflags "-X github.com/flotilla-dev/flotilla/internal/version.Version=…".
var Version = "dev"

// String returns the version with the VCS revision when the build recorded one.
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return Version + "+" + s.Value[:12]
		}
	}
	return Version
}
