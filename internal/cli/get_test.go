//go:build !agent

package cli

import (
	"bytes"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestGetFlags(t *testing.T) {
	checkFlags(t, &getOptions{resourceArg: "fcl"}, []string{"-l", "env=prod,tier!=edge", "-o", "wide"}, "", func(o *getOptions) bool {
		return o.resource.plural == "clusters" && o.output == "wide" && o.labels.String() == "env=prod,tier!=edge"
	})
	checkFlags(t, &getOptions{resourceArg: "Rollout.fleet.flotilla.dev"}, []string{"-A"}, "", func(o *getOptions) bool {
		return o.resource.plural == "rollouts" && o.listNamespace() == ""
	})
	checkFlags(t, &getOptions{resourceArg: "ro"}, nil, "", func(o *getOptions) bool {
		return o.listNamespace() == fleetv1alpha1.PlatformNamespace
	})
	checkFlags(t, &getOptions{resourceArg: "wk"}, nil, "", func(o *getOptions) bool { return o.listNamespace() == "" })
	checkFlags(t, &getOptions{resourceArg: "works"}, []string{"-n", "flotilla-cluster-eu-1"}, "", func(o *getOptions) bool {
		return o.listNamespace() == "flotilla-cluster-eu-1"
	})
	checkFlags(t, &getOptions{resourceArg: "clusters"}, []string{"-n", "team-a"}, "", func(o *getOptions) bool {
		return o.listNamespace() == "" // cluster-scoped: -n does not apply, as with kubectl
	})
	checkFlags(t, &getOptions{resourceArg: "pods"}, nil,
		`unknown resource "pods"
flotilla get knows clusters (cluster, fcl), fleets (fleet, flt), promises (promise, prm), rollouts (rollout, ro, fro), works (work, wk), overrides (override, ovr), rolloutstrategies (rolloutstrategy, rost), fleetfreezes (fleetfreeze, freeze)`, nil)
	checkFlags(t, &getOptions{resourceArg: "rollotus"}, nil, `unknown resource "rollotus"; did you mean "rollouts"?`, nil)
	checkFlags(t, &getOptions{resourceArg: "strategies"}, nil, `unknown resource "strategies"; did you mean "rolloutstrategies"?`, nil)
	checkFlags(t, &getOptions{resourceArg: "freezes"}, nil, `unknown resource "freezes"; did you mean "fleetfreezes"?`, nil)
	checkFlags(t, &getOptions{resourceArg: "clusters"}, []string{"-o", "table"}, `-o "table": want wide, yaml, json or name`, nil)
	checkFlags(t, &getOptions{resourceArg: "works"}, []string{"-n", "a", "-A"}, "-n and -A cannot be combined", nil)
	checkFlags(t, &getOptions{resourceArg: "works", name: "w"}, []string{"-l", "a=b"}, "NAME and -l cannot be combined", nil)
	checkFlags(t, &getOptions{resourceArg: "works"}, []string{"-l", "a=(b"}, `-l "a=(b"`, nil)
}

func TestGetTables(t *testing.T) {
	created := metav1.NewTime(now.Add(-49 * time.Hour))
	heartbeat := metav1.NewTime(now.Add(-7 * time.Second))
	eu := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "eu-1", CreationTimestamp: created, Labels: map[string]string{"ring": "canary", "env": "prod"}}}
	eu.Spec.Delivery.Mode = fleetv1alpha1.DeliveryAgent
	eu.Status = fleetv1alpha1.ClusterStatus{Availability: fleetv1alpha1.ClusterAvailabilityAvailable, KubernetesVersion: "v1.36.3",
		AgentVersion: "v0.4.0", NodeCount: 3, LastHeartbeatTime: &heartbeat}
	fresh := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "us-10", CreationTimestamp: created}}

	failing := &fleetv1alpha1.Work{ObjectMeta: metav1.ObjectMeta{Namespace: "flotilla-cluster-eu-1", Name: "web-shop", Generation: 1, CreationTimestamp: created}}
	failing.Spec = fleetv1alpha1.WorkSpec{Cluster: "eu-1", Revision: "web-2",
		Subject: fleetv1alpha1.WorkSubject{Promise: "web", Instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "shop"}}}
	failing.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: 1, AppliedRevision: "web-2", Conditions: []metav1.Condition{
		{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: "Applied"},
		{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Stalled"},
		{Type: fleetv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "ImagePullBackOff", Message: "Deployment shop:\nimage not found"},
	}}

	strategy := &fleetv1alpha1.RolloutStrategy{ObjectMeta: metav1.ObjectMeta{Name: "pilot-canary-general", CreationTimestamp: created}}
	strategy.Spec = fleetv1alpha1.RolloutStrategySpec{
		Waves:     []fleetv1alpha1.Wave{{Name: "pilot"}, {Name: "canary"}, {Name: "general"}},
		OnFailure: fleetv1alpha1.FailureRollback, OfflinePolicy: fleetv1alpha1.OfflineWait,
	}
	until := metav1.NewTime(time.Date(2031, 12, 27, 8, 0, 0, 0, time.UTC))
	freeze := &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "incident-42", CreationTimestamp: created}}
	freeze.Spec = fleetv1alpha1.FleetFreezeSpec{Reason: "incident 42", Action: fleetv1alpha1.FreezeRollback, Until: &until, FrozenBy: "alice"}
	freeze.Status = fleetv1alpha1.FleetFreezeStatus{HeldRollouts: 1, RolledBackRollouts: 2, Conditions: []metav1.Condition{
		{Type: fleetv1alpha1.ConditionActive, Status: metav1.ConditionTrue, Reason: "Active"},
	}}

	override := &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: "team-a", CreationTimestamp: created}}
	override.Spec = fleetv1alpha1.OverrideSpec{Promise: "web", Type: fleetv1alpha1.PatchValues}
	override.Status = fleetv1alpha1.OverrideStatus{AffectedClusters: 3, AffectedWorks: 3, PendingWorks: 2, Conditions: []metav1.Condition{
		{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded",
			Message: "may shape instances in namespace team-a only; 2 of the 3 Works it shapes\nrender an earlier spec of it"},
	}}

	tests := []struct {
		resource     string
		objs         []client.Object
		wide, withNS bool
		want         string
	}{{
		resource: "clusters", objs: []client.Object{eu, fresh},
		want: `NAME    DELIVERY   AVAILABLE   VERSION   HEARTBEAT   AGE
eu-1    Agent      Available   v1.36.3   7s          2d1h
us-10                                                2d1h
`,
	}, {
		resource: "clusters", objs: []client.Object{eu, fresh}, wide: true,
		want: `NAME    DELIVERY   AVAILABLE   VERSION   NODES   AGENT    HEARTBEAT   AGE    LABELS
eu-1    Agent      Available   v1.36.3   3       v0.4.0   7s          2d1h   env=prod,ring=canary
us-10                                    0                            2d1h   <none>
`,
	}, {
		resource: "works", objs: []client.Object{failing}, withNS: true,
		want: `NAMESPACE               NAME       CLUSTER   PROMISE   INSTANCE   REVISION   APPLIED   READY   AGE
flotilla-cluster-eu-1   web-shop   eu-1      web       shop       web-2      web-2     False   2d1h
`,
	}, {
		resource: "works", objs: []client.Object{failing}, wide: true,
		want: `NAME       CLUSTER   PROMISE   INSTANCE   REVISION   APPLIED   READY   DRIFTED   AGE    STATE    REASON
web-shop   eu-1      web       shop       web-2      web-2     False             2d1h   Failed   ImagePullBackOff: Deployment shop: image not found
`,
	}, {
		// Every wave: kubectl's column shows only the first.
		resource: "rost", objs: []client.Object{strategy},
		want: `NAME                   WAVES                  ON-FAILURE   OFFLINE   AGE
pilot-canary-general   pilot,canary,general   Rollback     Wait      2d1h
`,
	}, {
		resource: "ovr", objs: []client.Object{override},
		want: `NAME     PROMISE   TYPE     CLUSTERS   READY   AGE
bigger   web       Values   3          True    2d1h
`,
	}, {
		resource: "overrides", objs: []client.Object{override}, wide: true,
		want: `NAME     PROMISE   TYPE     CLUSTERS   WORKS   PENDING   READY   AGE    MESSAGE
bigger   web       Values   3          3       2         True    2d1h   may shape instances in namespace team-a only; 2 of the 3 Works it shapes render an earlier spec of …
`,
	}, {
		resource: "fleetfreezes", objs: []client.Object{freeze}, wide: true,
		want: `NAME          ACTION     UNTIL                  ACTIVE   HELD   ROLLED-BACK   REASON        AGE    BY
incident-42   Rollback   2031-12-27T08:00:00Z   True     1      2             incident 42   2d1h   alice
`,
	}}
	for _, tt := range tests {
		r, err := findResource(tt.resource)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		r.printTable(&b, tt.objs, tt.wide, tt.withNS, now)
		if b.String() != tt.want {
			t.Errorf("%s (wide %v):\n%s\nwant:\n%s", tt.resource, tt.wide, b.String(), tt.want)
		}
	}
}
