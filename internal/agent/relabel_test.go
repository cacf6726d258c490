package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team that may update objects in its namespace on the member writes its
// own instance Work's label on the platform's object there (or, under
// adoption IfUnowned, removes the label), then lists the object in its
// instance: the object is another Work's by the UID that Work's inventory
// records, so the team's Work must not claim it, apply over it, nor prune it.
func TestAWorkDoesNotClaimAnObjectAnotherWorkRecords(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "relabel", "relabel-team"
	e.createNamespace(t, ns)
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))
	kinds := []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}

	// The platform's fleet resources put a CA bundle in the team's namespace.
	platform := work(cluster, "platform", configMapObj(ns, "platform-ca", map[string]string{"ca.crt": "platform"}),
		configMapObj(ns, "platform-proxy", map[string]string{"proxy": "platform"}))
	mustf(t, e.hubClient.Create(e.ctx, platform), "creating platform work")
	e.waitWorkReady(t, cluster, platform.Name, 60*time.Second)
	ca, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "platform-ca", metav1.GetOptions{})
	mustf(t, err, "reading platform-ca")
	proxy, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "platform-proxy", metav1.GetOptions{})
	mustf(t, err, "reading platform-proxy")

	// The team relabels platform-ca as its Work's and takes the label off
	// platform-proxy (a metadata patch, as `kubectl label` does).
	relabel := func(name string, value any) {
		t.Helper()
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{fleetv1alpha1.LabelWork: value}}})
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Patch(e.ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		mustf(t, err, "relabelling %s", name)
	}
	const teamWork = "team"
	relabel("platform-ca", teamWork)
	relabel("platform-proxy", nil)

	team := instanceWork(cluster, teamWork, ns, kinds,
		configMapObj(ns, "platform-ca", map[string]string{"ca.crt": "attacker"}),
		configMapObj(ns, "platform-proxy", map[string]string{"proxy": "attacker"}),
		configMapObj(ns, "team-own", nil))
	team.Spec.Adoption = fleetv1alpha1.AdoptionIfUnowned
	mustf(t, e.hubClient.Create(e.ctx, team), "creating team work")
	got := e.waitWorkResults(t, cluster, teamWork, map[string]fleetv1alpha1.ApplyResult{
		"ConfigMap/platform-ca":    fleetv1alpha1.ApplyResultConflict,
		"ConfigMap/platform-proxy": fleetv1alpha1.ApplyResultConflict,
		"ConfigMap/team-own":       fleetv1alpha1.ApplyResultApplied,
	})
	for _, name := range []string{"platform-ca", "platform-proxy"} {
		if r := findResource(got, "ConfigMap", name, ""); !strings.Contains(r.Message, "Work platform") {
			t.Errorf("%s: %+v", name, r)
		}
	}
	for _, want := range []struct{ name, key string }{{"platform-ca", "ca.crt"}, {"platform-proxy", "proxy"}} {
		live, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, want.name, metav1.GetOptions{})
		mustf(t, err, "reading %s", want.name)
		if live.Data[want.key] != "platform" {
			t.Errorf("%s holds the team's content: %v", want.name, live.Data)
		}
	}

	// Taken out of the team's instance (or the instance deleted), they are
	// not the team's Work's to prune.
	e.updateWork(t, team, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, configMapObj(ns, "team-own", nil))
	})
	e.waitWorkReady(t, cluster, teamWork, 60*time.Second)
	mustf(t, e.hubClient.Delete(e.ctx, team), "deleting team work")
	waitFor(t, 30*time.Second, "team-own pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "team-own", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
	for _, before := range []string{"platform-ca", "platform-proxy"} {
		live, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, before, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s was pruned by the team's Work: %v", before, err)
			continue
		}
		if want := map[string]types.UID{"platform-ca": ca.UID, "platform-proxy": proxy.UID}[before]; live.UID != want {
			t.Errorf("%s was deleted and created again (uid %s, was %s)", before, live.UID, want)
		}
	}
}
