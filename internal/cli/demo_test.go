//go:build !agent

package cli

import "testing"

func TestDemoFlags(t *testing.T) {
	checkFlags(t, &demoOptions{}, nil, "", func(o *demoOptions) bool { return o.dir == ".flotilla-demo" && !o.keep })
	checkFlags(t, &demoOptions{}, []string{"--dir", "/tmp/d", "--keep"}, "", func(o *demoOptions) bool { return o.dir == "/tmp/d" && o.keep })
	checkFlags(t, &demoOptions{}, []string{"--dir", ""}, "--dir must not be empty", nil)
}
