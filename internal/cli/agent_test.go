package cli

import (
	"strings"
	"testing"
	"time"
)

func TestAgentFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(*agentOptions) bool
	}{
		{args: []string{"--cluster", "edge-1", "--hub-kubeconfig", "hub.kubeconfig"}, check: func(o *agentOptions) bool {
			return o.ClusterName == "edge-1" && o.hubKubeconfig == "hub.kubeconfig" && o.StateDir == DefaultAgentStateDir &&
				o.HeartbeatInterval == time.Minute && o.HeartbeatGrace == 0 && o.ResyncInterval == 5*time.Minute &&
				o.MetricsAddr == ":8080" && o.ProbeAddr == ":8081" && o.Version != "" && !o.DisableDriftWatch &&
				o.ReleaseCodePagesEvery == 10*time.Second
		}},
		{args: []string{"--cluster", "edge-1", "--hub-kubeconfig", "h", "--release-code-pages-every=0"}, check: func(o *agentOptions) bool {
			return o.ReleaseCodePagesEvery == 0
		}},
		{args: []string{"--cluster", "edge-1", "--hub-kubeconfig", "h", "--release-code-pages-every=-1s"}, wantErr: "must not be negative"},
		{args: []string{"--cluster", "edge-1", "--hub-kubeconfig", "h", "--drift-watch=false"}, check: func(o *agentOptions) bool {
			return o.DisableDriftWatch
		}},
		{args: []string{"--cluster", "edge-1", "--hub-kubeconfig", "h", "--kubeconfig", "m", "--state-dir", "/s",
			"--heartbeat-interval", "10s", "--heartbeat-grace", "45s", "--resync-interval", "1m",
			"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:9000"}, check: func(o *agentOptions) bool {
			return o.memberKubeconfig == "m" && o.StateDir == "/s" && o.HeartbeatInterval == 10*time.Second &&
				o.HeartbeatGrace == 45*time.Second && o.ResyncInterval == time.Minute && o.MetricsAddr == "0" && o.ProbeAddr == "127.0.0.1:9000"
		}},
		{args: []string{"--cluster", "edge-1"}, wantErr: "--hub-kubeconfig is required"},
		{args: []string{"--hub-kubeconfig", "h"}, wantErr: "cluster name is required"},
		{args: []string{"--cluster", "Edge_1", "--hub-kubeconfig", "h"}, wantErr: `cluster name "Edge_1"`},
		{args: []string{"--cluster", "edge-1", "--hub-kubeconfig", "h", "--heartbeat-interval", "10s", "--heartbeat-grace", "5s"}, wantErr: "must be longer than the heartbeat interval"},
		{args: []string{"--cluster", "edge-1", "--hub-kubeconfig", "h", "--state-dir", ""}, wantErr: "state directory is required"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			checkFlags(t, &agentOptions{}, tt.args, tt.wantErr, tt.check)
		})
	}
}
