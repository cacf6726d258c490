//go:build !agent

package cli

import "testing"

func TestSimFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(*simOptions) bool
	}{
		{name: "defaults", args: []string{"--clusters", "10"}, check: func(o *simOptions) bool {
			return o.Clusters == 10 && o.hubController == simHubInProcess && len(o.apiserverArgs) == 0
		}},
		{name: "apiserver flags, repeated and with commas", args: []string{
			"--apiserver-arg=--feature-gates=DetectCacheInconsistency=false,WatchList=true", "--apiserver-arg", "--max-requests-inflight=800",
		}, check: func(o *simOptions) bool {
			return len(o.apiserverArgs) == 2 && o.apiserverArgs[0] == "--feature-gates=DetectCacheInconsistency=false,WatchList=true" &&
				o.apiserverArgs[1] == "--max-requests-inflight=800"
		}},
		{name: "not a flag", args: []string{"--apiserver-arg", "feature-gates=X=false"}, wantErr: `--apiserver-arg "feature-gates=X=false": must be a kube-apiserver flag`},
		{name: "not with an existing hub", args: []string{"--kubeconfig", "hub.kubeconfig", "--apiserver-arg=--v=2"},
			wantErr: "only for the hub sim starts"},
		{name: "unknown hub controller", args: []string{"--hub-controller", "remote"}, wantErr: `--hub-controller "remote"`},
	} {
		t.Run(tc.name, func(t *testing.T) { checkFlags(t, &simOptions{}, tc.args, tc.wantErr, tc.check) })
	}
}
