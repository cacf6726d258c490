//go:build !agent

package cli

import (
	"strings"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestJoinFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(*joinOptions) bool
	}{
		{args: []string{"edge-1", "--label", "env=prod", "--label", "region=eu"}, check: func(o *joinOptions) bool {
			return o.join.Labels["env"] == "prod" && o.join.Labels["region"] == "eu" && o.join.Delivery == fleetv1alpha1.DeliveryAgent
		}},
		{args: []string{"edge-1", "--delivery", "Git", "--git-url", "https://g/x.git", "--git-secret", "ops/creds", "--git-health-source", "none"}, check: func(o *joinOptions) bool {
			g := o.join.Git
			return o.join.Delivery == fleetv1alpha1.DeliveryGit && g.URL == "https://g/x.git" && g.SecretRef.Namespace == "ops" &&
				g.SecretRef.Name == "creds" && g.HealthSource == fleetv1alpha1.GitHealthNone
		}},
		{args: []string{"edge-1", "--label", "env"}, wantErr: `--label "env": want key=value`},
		{args: []string{"edge-1", "--git-url", "https://g/x.git"}, wantErr: "--git-* flags need --delivery git"},
		{args: []string{"edge-1", "--delivery", "ship"}, wantErr: `--delivery "ship"`},
		{args: []string{"edge-1", "-o", "json"}, wantErr: "only output format is yaml"},
		{args: []string{"edge-1", "--delivery", "git", "--git-url", "https://g/x.git", "--git-health-source", "None", "-o", "yaml"}, wantErr: "runs no agent"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			checkFlags(t, &joinOptions{}, tt.args[1:], tt.wantErr, tt.check)
		})
	}
}

func TestJoinRerunKeepsFlags(t *testing.T) {
	cmd := newJoinCommand()
	if err := cmd.Flags().Parse([]string{"--label", "env=prod", "--label", "owner=team a", "--token-ttl", "1h", "-o", "yaml", "--write-kubeconfig", "f",
		"--revoke-tokens"}); err != nil {
		t.Fatal(err)
	}
	got := rerun(cmd, "edge-1")
	want := "flotilla join edge-1 --label=env=prod --label='owner=team a' --token-ttl=1h0m0s"
	if got != want {
		t.Errorf("rerun = %q, want %q", got, want)
	}
}
