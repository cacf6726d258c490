package agent

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsDefault(t *testing.T) {
	o := Options{ClusterName: "edge-1", StateDir: "/tmp/x"}.Default()
	if o.HeartbeatInterval != 60*time.Second || o.HeartbeatGrace != 180*time.Second || o.ResyncInterval != 5*time.Minute {
		t.Errorf("defaults %+v", o)
	}
	o = Options{HeartbeatInterval: 10 * time.Second}.Default()
	if o.HeartbeatGrace != 30*time.Second {
		t.Errorf("grace %s, want 3 × interval", o.HeartbeatGrace)
	}
}

func TestOptionsValidate(t *testing.T) {
	valid := Options{ClusterName: "edge-1", StateDir: "/var/lib/flotilla-agent", MetricsAddr: ":8080", ProbeAddr: "0"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no cluster", func(o *Options) { o.ClusterName = "" }, "cluster name is required"},
		{"bad cluster", func(o *Options) { o.ClusterName = "Edge_1" }, `cluster name "Edge_1"`},
		{"long cluster", func(o *Options) { o.ClusterName = strings.Repeat("a", 47) }, "at most 46 are allowed"},
		{"no state dir", func(o *Options) { o.StateDir = "" }, "state directory is required"},
		{"short interval", func(o *Options) { o.HeartbeatInterval = 100 * time.Millisecond }, "at least 1s"},
		{"negative interval", func(o *Options) { o.HeartbeatInterval = -time.Second }, "at least 1s"},
		{"grace not above interval", func(o *Options) { o.HeartbeatInterval, o.HeartbeatGrace = 10*time.Second, 10*time.Second }, "must be longer than the heartbeat interval"},
		{"fractional grace", func(o *Options) { o.HeartbeatGrace = 3500 * time.Millisecond; o.HeartbeatInterval = time.Second }, "whole seconds"},
		{"short resync", func(o *Options) { o.ResyncInterval = time.Millisecond }, "resync interval"},
		{"negative code page release", func(o *Options) { o.ReleaseCodePagesEvery = -time.Second }, "must not be negative"},
		{"bad metrics address", func(o *Options) { o.MetricsAddr = "8080" }, "metrics address"},
		{"bad probe address", func(o *Options) { o.ProbeAddr = "localhost" }, "probe address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.mutate(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
