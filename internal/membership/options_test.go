package membership

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestJoinOptionsValidation(t *testing.T) {
	git := &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/fleet.git"}
	tests := []struct {
		name    string
		opts    JoinOptions
		wantErr string // empty: valid
	}{
		{name: "minimal", opts: JoinOptions{Name: "edge-1"}},
		{name: "longest name", opts: JoinOptions{Name: strings.Repeat("a", fleetv1alpha1.MaxClusterNameLength)}},
		{name: "labels", opts: JoinOptions{Name: "edge-1", Labels: map[string]string{"env": "prod", "example.com/tier": "edge", "empty": ""}}},
		{name: "git", opts: JoinOptions{Name: "edge-1", Delivery: fleetv1alpha1.DeliveryGit, Git: git}},
		{name: "hub server", opts: JoinOptions{Name: "edge-1", HubServer: "https://hub.example.com:6443"}},
		{name: "longest token", opts: JoinOptions{Name: "edge-1", TokenTTL: MaxTokenTTL}},

		{name: "no name", opts: JoinOptions{}, wantErr: "cluster name is required"},
		{name: "name too long", opts: JoinOptions{Name: strings.Repeat("a", fleetv1alpha1.MaxClusterNameLength+1)}, wantErr: "at most 46"},
		{name: "name not a DNS label", opts: JoinOptions{Name: "Edge_1"}, wantErr: `cluster name "Edge_1"`},
		{name: "bad label key", opts: JoinOptions{Name: "a", Labels: map[string]string{"-env": "x"}}, wantErr: `label key "-env"`},
		{name: "bad label value", opts: JoinOptions{Name: "a", Labels: map[string]string{"env": "a b"}}, wantErr: `label env value "a b"`},
		{name: "git without url", opts: JoinOptions{Name: "a", Delivery: fleetv1alpha1.DeliveryGit}, wantErr: "needs a repository URL"},
		{name: "git bad url", opts: JoinOptions{Name: "a", Delivery: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{URL: "ftp://x"}}, wantErr: "git URL"},
		{name: "git url with a token", opts: JoinOptions{Name: "a", Delivery: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{URL: "https://x-access-token:ghp_s3cret@github.com/o/fleet.git"}}, wantErr: "must not hold credentials"},
		{name: "git url with a token as the user", opts: JoinOptions{Name: "a", Delivery: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{URL: "https://ghp_s3cret@github.com/o/fleet.git"}}, wantErr: "must not hold credentials"},
		{name: "git over ssh with a user", opts: JoinOptions{Name: "a", Delivery: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{URL: "ssh://git@git.example.com/fleet.git"}}},
		{name: "git absolute path", opts: JoinOptions{Name: "a", Delivery: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{URL: git.URL, Path: "/etc"}}, wantErr: "git path"},
		{name: "git settings with agent delivery", opts: JoinOptions{Name: "a", Git: git}, wantErr: "only allowed with delivery Git"},
		{name: "unknown delivery", opts: JoinOptions{Name: "a", Delivery: "Carrier"}, wantErr: `delivery "Carrier"`},
		{name: "token too short", opts: JoinOptions{Name: "a", TokenTTL: time.Minute}, wantErr: "token TTL 1m0s"},
		{name: "token too long", opts: JoinOptions{Name: "a", TokenTTL: 2 * MaxTokenTTL}, wantErr: "token TTL"},
		{name: "plain http hub", opts: JoinOptions{Name: "a", HubServer: "http://hub:6443"}, wantErr: "must be an https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opts.normalize()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got.Delivery == "" || got.TokenTTL == 0 {
					t.Errorf("defaults not filled in: %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestJoinOptionsReportsEveryProblem(t *testing.T) {
	_, err := JoinOptions{Name: "Bad", Labels: map[string]string{"a b": "c"}, TokenTTL: time.Second}.normalize()
	for _, want := range []string{"cluster name", "label key", "token TTL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}
