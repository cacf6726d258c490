package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/sim"
)

// Helpers for the Rollout stories, on top of fleet_test.go's fixture and
// promise_helpers_test.go's.

// The rollout fleet: five members in three rings, which the strategies'
// waves select.
var (
	rings = map[string]string{
		"member-1": "canary", "member-2": "canary",
		"member-3": "early",
		"member-4": "general", "member-5": "general",
	}
	allMembers     = []string{"member-1", "member-2", "member-3", "member-4", "member-5"}
	canaryMembers  = []string{"member-1", "member-2"}
	earlyMembers   = []string{"member-3"}
	generalMembers = []string{"member-4", "member-5"}
)

const (
	// webGroup is the API group of the stories' web Promises.
	webGroup = "rollout.example.com"
	// tenantLabel marks the team namespaces the rollout Fleet admits.
	tenantLabel = "e2e.flotilla.dev/rollout-tenant"
	// rolloutFleetName is the Fleet of every member, whose tenants are the stories' teams.
	rolloutFleetName = "rollout-e2e"
)

// rolloutFleet is the fleet of the rollout stories, with a log of every
// Work revision the hub ever wrote.
type rolloutFleet struct {
	*fleet
	works *workLog
}

// in returns the fleet as seen from a subtest, so its helpers fail that subtest.
func (f *rolloutFleet) in(t *testing.T) *rolloutFleet {
	return &rolloutFleet{fleet: f.fleet.in(t), works: f.works}
}

// givenRolloutFleet starts a hub and five members labelled ring=canary
// (member-1, member-2), early (member-3) and general (member-4, member-5),
// one Fleet of them all whose tenants are the stories' team namespaces, and
// starts logging Works.
func givenRolloutFleet(t *testing.T) *rolloutFleet {
	t.Helper()
	f := givenFleetWith(t, devenv.Options{
		Members:      len(allMembers),
		MemberLabels: func(i int) map[string]string { return map[string]string{"ring": rings[devenv.MemberName(i)]} },
	})
	for _, m := range allMembers {
		f.thenClusterIs(m, fleetv1alpha1.ClusterAvailabilityAvailable, time.Minute)
	}
	f.givenPlatformNamespace()
	f.create(f.hub, &fleetv1alpha1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: rolloutFleetName},
		Spec: fleetv1alpha1.FleetSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}},
			Tenants: &fleetv1alpha1.Tenants{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{tenantLabel: "true"},
			}},
		},
	})
	return &rolloutFleet{fleet: f, works: startWorkLog(t, f)}
}

// ---- Promises and instances -------------------------------------------------

// web is one story's Promise: a Deployment per instance whose image is part
// of the Promise's content, so changing the image makes a new revision.
type web struct {
	promise string
	kind    schema.GroupVersionKind
}

func webPromise(name string) web {
	kind := ""
	for _, part := range strings.Split(name, "-") {
		kind += strings.ToUpper(part[:1]) + part[1:]
	}
	return web{promise: name, kind: schema.GroupVersionKind{Group: webGroup, Version: "v1alpha1", Kind: kind}}
}

// givenRingsStory sets up a story named story on its own: strategy story
// (ringsStrategy), Promise web-<story> rolling out with it, team-<story> and
// its instance "shop" running webV1. It returns the Promise, the team
// namespace and the Promise's first revision.
func (f *rolloutFleet) givenRingsStory(story string) (web, string, string) {
	f.t.Helper()
	w, ns := webPromise("web-"+story), "team-"+story
	f.givenStrategy(story, ringsStrategy())
	return w, ns, f.givenWebSite(w, story, ns)
}

// givenWebSite publishes w rolling out with strategy (givenWebPromise),
// creates team ns and requests its instance "shop" on members (none: every
// member), running webV1. It returns the Promise's first revision.
func (f *rolloutFleet) givenWebSite(w web, strategy, ns string, members ...string) string {
	f.t.Helper()
	first := f.givenWebPromise(w, strategy)
	f.givenTeam(ns)
	f.givenWebInstance(w, ns, "shop", webV1, members...)
	return first
}

// givenWebPromise publishes the web Promise running webV1, rolling out with
// strategy, and waits until it is Ready; it returns its first revision.
func (f *rolloutFleet) givenWebPromise(w web, strategy string) string {
	f.t.Helper()
	return f.givenPromise(&fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: w.promise},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: w.kind.Group, Kind: w.kind.Kind,
					Schema: raw(map[string]any{"type": "object", "properties": map[string]any{}}),
				},
				Templates: &fleetv1alpha1.Templates{
					Engine:      fleetv1alpha1.TemplateEngineGoTemplate,
					GoTemplates: []fleetv1alpha1.GoTemplate{{Name: "deployment.yaml", Template: sim.WebTemplate(webV1)}},
				},
				Output: sim.WebOutput(),
			},
			StrategyRef: &fleetv1alpha1.LocalObjectReference{Name: strategy},
		},
	})
}

// givenTeam creates a team namespace on the hub, admitted by the rollout
// Fleet, and on every member.
func (f *rolloutFleet) givenTeam(ns string) {
	f.t.Helper()
	f.create(f.hub, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{tenantLabel: "true"}}})
	for _, m := range f.members {
		f.create(m, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
}

// givenWebInstance requests an instance of w in ns, narrowed to members
// (none: every member), and waits until it runs image everywhere.
func (f *rolloutFleet) givenWebInstance(w web, ns, name, image string, members ...string) {
	f.t.Helper()
	spec := map[string]any{}
	if len(members) > 0 {
		spec[fleetv1alpha1.InstancePlacementField] = map[string]any{"names": toAny(members)}
	} else {
		members = allMembers
	}
	f.whenInstanceIsRequested(w.kind, ns, name, spec)
	f.thenInstanceIsReady(w.kind, ns, name, int32(len(members)), time.Minute)
	f.thenWebRuns(ns, name, image, time.Minute, members...)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// givenStrategy creates a RolloutStrategy.
func (f *rolloutFleet) givenStrategy(name string, spec fleetv1alpha1.RolloutStrategySpec) {
	f.t.Helper()
	f.create(f.hub, &fleetv1alpha1.RolloutStrategy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
}

// ringWave is a wave of the clusters of one ring.
func ringWave(ring string, bake, deadline time.Duration, tweak ...func(*fleetv1alpha1.Wave)) fleetv1alpha1.Wave {
	w := fleetv1alpha1.Wave{
		Name:             ring,
		Selector:         &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": ring}},
		MaxFailures:      ptrTo(intstr.FromInt32(0)),
		ProgressDeadline: &metav1.Duration{Duration: deadline},
	}
	if bake > 0 {
		w.BakeTime = &metav1.Duration{Duration: bake}
	}
	for _, fn := range tweak {
		fn(&w)
	}
	return w
}

func ptrTo[T any](v T) *T { return &v }

// whenImageChanges edits the web Promise's template to run image (a new
// revision), applying more changes if given, and returns the name of the
// Rollout the hub starts for it: <promise>-<generation>.
func (f *rolloutFleet) whenImageChanges(w web, image string, more ...func(*fleetv1alpha1.Promise)) string {
	f.t.Helper()
	var generation int64
	f.eventually(30*time.Second, "update promise "+w.promise, func() (bool, string) {
		p := f.promise(w.promise)
		p.Spec.Templates.GoTemplates[0].Template = sim.WebTemplate(image)
		for _, fn := range more {
			fn(p)
		}
		if err := f.hub.Update(context.Background(), p); err != nil {
			return false, err.Error()
		}
		generation = p.Generation
		return true, ""
	})
	return fmt.Sprintf("%s-%d", w.promise, generation)
}

// thenWebRuns waits until every given member runs the instance's Deployment
// on image, rolled out and available.
func (f *rolloutFleet) thenWebRuns(ns, name, image string, within time.Duration, members ...string) {
	f.t.Helper()
	for _, m := range members {
		f.eventually(within, fmt.Sprintf("deployment %s/%s on %s runs %s", ns, name, m, image), func() (bool, string) {
			d := &appsv1.Deployment{}
			if err := f.members[m].Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
				return false, err.Error()
			}
			got := d.Spec.Template.Spec.Containers[0].Image
			st := d.Status
			return got == image && st.ObservedGeneration == d.Generation && st.UpdatedReplicas == 1 &&
					st.AvailableReplicas == 1 && st.Replicas == 1,
				fmt.Sprintf("image=%s generation=%d status=%+v", got, d.Generation, st)
		})
	}
}

// imageOn reads the image of the instance's Deployment on a member.
func (f *rolloutFleet) imageOn(member, ns, name string) string {
	f.t.Helper()
	d := &appsv1.Deployment{}
	if err := f.members[member].Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		f.t.Fatalf("reading deployment %s/%s on %s: %v", ns, name, member, err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// ---- Rollouts -----------------------------------------------------------------

// rollout reads a Rollout of flotilla-system; nil when it does not exist.
func (f *rolloutFleet) rollout(name string) *fleetv1alpha1.Rollout {
	f.t.Helper()
	ro := &fleetv1alpha1.Rollout{}
	err := f.hub.Get(context.Background(), client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}, ro)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatalf("reading rollout %s: %v", name, err)
	}
	return ro
}

// thenRollout waits until the Rollout satisfies ok and returns it.
func (f *rolloutFleet) thenRollout(name, what string, within time.Duration, ok func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
	f.t.Helper()
	var ro *fleetv1alpha1.Rollout
	f.eventually(within, fmt.Sprintf("rollout %s: %s", name, what), func() (bool, string) {
		ro = f.rollout(name)
		if ro == nil {
			return false, "not found"
		}
		return ok(ro), describe(ro)
	})
	return ro
}

// thenRolloutPhase waits until the Rollout is in phase (a terminal phase
// other than the one wanted fails at once).
func (f *rolloutFleet) thenRolloutPhase(name string, phase fleetv1alpha1.RolloutPhase, within time.Duration) *fleetv1alpha1.Rollout {
	f.t.Helper()
	return f.thenRollout(name, "phase "+string(phase), within, func(ro *fleetv1alpha1.Rollout) bool {
		if p := ro.Status.Phase; p != phase && p.IsTerminal() {
			f.t.Fatalf("rollout %s ended %s, want %s: %s", name, p, phase, describe(ro))
		}
		return ro.Status.Phase == phase
	})
}

// thenRolloutAt waits until the Rollout is in phase on wave.
func (f *rolloutFleet) thenRolloutAt(name string, phase fleetv1alpha1.RolloutPhase, wave string, within time.Duration) *fleetv1alpha1.Rollout {
	f.t.Helper()
	return f.thenRollout(name, fmt.Sprintf("phase %s on wave %s", phase, wave), within, func(ro *fleetv1alpha1.Rollout) bool {
		if ro.Status.Phase.IsTerminal() {
			f.t.Fatalf("rollout %s ended %s, want %s on %s: %s", name, ro.Status.Phase, phase, wave, describe(ro))
		}
		return ro.Status.Phase == phase && ro.Status.CurrentWave == wave
	})
}

// describe is a Rollout's status in a few lines, for failure messages.
func describe(ro *fleetv1alpha1.Rollout) string {
	st := ro.Status
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s wave=%s %s on=%d%% from=%s target=%s rollbackRevision=%s",
		st.Phase, st.CurrentWave, counts(st.Counts), st.PercentOnTarget, ro.Spec.FromRevision, ro.Spec.TargetRevision, st.RollbackRevision)
	for _, w := range st.Waves {
		fmt.Fprintf(&b, "\n  wave %s %s %v %s", w.Name, w.Phase, w.Clusters, counts(w.Counts))
	}
	for _, fl := range st.Failures {
		fmt.Fprintf(&b, "\n  failure %s (%s) %s: %s", fl.Cluster, fl.Wave, fl.Reason, fl.Message)
	}
	for _, h := range st.History {
		fmt.Fprintf(&b, "\n  history %s %s->%s wave=%s by=%s: %s", h.Time.Format(time.TimeOnly), h.From, h.To, h.Wave, h.Actor, h.Message)
	}
	for _, c := range st.Conditions {
		fmt.Fprintf(&b, "\n  condition %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	if a := st.Adoption; a != nil {
		fmt.Fprintf(&b, "\n  adoption %d/%d forcedAt=%v", a.Adopted, a.Instances, a.ForcedAt)
	}
	return b.String()
}

func counts(c fleetv1alpha1.RolloutCounts) string {
	return fmt.Sprintf("total=%d admitted=%d healthy=%d failed=%d pending=%d offline=%d",
		c.Total, c.Admitted, c.Healthy, c.Failed, c.Pending, c.Offline)
}

// wave returns the status of a Rollout's wave by name.
func wave(ro *fleetv1alpha1.Rollout, name string) *fleetv1alpha1.WaveStatus {
	for i := range ro.Status.Waves {
		if ro.Status.Waves[i].Name == name {
			return &ro.Status.Waves[i]
		}
	}
	return nil
}

// patchRollout merge-patches a Rollout's spec, as the CLI's verbs do.
func (f *rolloutFleet) patchRollout(name string, spec map[string]any) {
	f.t.Helper()
	body, err := json.Marshal(map[string]any{"spec": spec})
	if err != nil {
		f.t.Fatal(err)
	}
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}}
	if err := f.hub.Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, body)); err != nil {
		f.t.Fatalf("patching rollout %s with %s: %v", name, body, err)
	}
}

func change(by string) map[string]any {
	return map[string]any{"by": by, "at": metav1.Now().UTC().Format(time.RFC3339)}
}

// whenApproved approves a wave of a Rollout.
func (f *rolloutFleet) whenApproved(name, waveName, by string) {
	f.t.Helper()
	var approvals []any
	for _, a := range f.rollout(name).Spec.Approvals {
		approvals = append(approvals, a)
	}
	approval := change(by)
	approval["wave"] = waveName
	f.patchRollout(name, map[string]any{"approvals": append(approvals, approval)})
}

// whenDesiredState pauses, resumes or aborts a Rollout.
func (f *rolloutFleet) whenDesiredState(name string, state fleetv1alpha1.RolloutDesiredState, by string) {
	f.t.Helper()
	f.patchRollout(name, map[string]any{"desiredState": state, "stateChange": change(by)})
}

// whenFrozen creates a FleetFreeze and deletes it when the test ends, if it
// still exists then.
func (f *rolloutFleet) whenFrozen(name string, action fleetv1alpha1.FreezeAction, reason string) {
	f.t.Helper()
	f.create(f.hub, &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: reason, Action: action, FrozenBy: "e2e-oncall"},
	})
	f.t.Cleanup(func() {
		_ = f.hub.Delete(context.Background(), &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
}

// whenUnfrozen deletes a FleetFreeze.
func (f *rolloutFleet) whenUnfrozen(name string) {
	f.t.Helper()
	if err := f.hub.Delete(context.Background(), &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		f.t.Fatalf("deleting freeze %s: %v", name, err)
	}
}

// rolloutEvents returns the reasons and types of the Events about a Rollout,
// as "Type Reason: note".
func (f *rolloutFleet) rolloutEvents(name string) []string {
	f.t.Helper()
	list := &eventsv1.EventList{}
	if err := f.hub.List(context.Background(), list, client.InNamespace(fleetv1alpha1.PlatformNamespace)); err != nil {
		f.t.Fatalf("listing events: %v", err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Rollout" && e.Regarding.Name == name {
			out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Note))
		}
	}
	sort.Strings(out)
	return out
}

// thenRolloutEvent waits (briefly: the hub records Events as it acts) until
// the Rollout has an Event of type and reason.
func (f *rolloutFleet) thenRolloutEvent(name, typ, reason string) {
	f.t.Helper()
	f.eventually(10*time.Second, fmt.Sprintf("a %s Event %s on rollout %s", typ, reason, name), func() (bool, string) {
		events := f.rolloutEvents(name)
		for _, e := range events {
			if strings.HasPrefix(e, typ+" "+reason+":") {
				return true, ""
			}
		}
		return false, strings.Join(events, "\n")
	})
}

// ---- Works ------------------------------------------------------------------

// workRevisions returns, for each member holding a Work of w's instance
// ns/name, the revision it renders and the one its agent applied.
func (f *rolloutFleet) workRevisions(w web, ns, name string) map[string][2]string {
	f.t.Helper()
	out := map[string][2]string{}
	for _, m := range allMembers {
		if work := f.workOf(w.promise, ns, name, m); work != nil {
			out[m] = [2]string{work.Spec.Revision, work.Status.AppliedRevision}
		}
	}
	return out
}

// thenWorksRender waits until the instance's Works on members render and
// have applied revision.
func (f *rolloutFleet) thenWorksRender(w web, ns, name, revision string, within time.Duration, members ...string) {
	f.t.Helper()
	for _, m := range members {
		f.eventually(within, fmt.Sprintf("work of %s/%s on %s at %s", ns, name, m, revision), func() (bool, string) {
			work := f.workOf(w.promise, ns, name, m)
			if work == nil {
				return false, "no work"
			}
			return work.Spec.Revision == revision && work.Status.AppliedRevision == revision && work.Status.ObservedGeneration == work.Generation,
				fmt.Sprintf("revision=%s applied=%s", work.Spec.Revision, work.Status.AppliedRevision)
		})
	}
}

// workLog records, from a watch on the hub, every revision each Work ever
// rendered, in order: what the Rollouts admitted, even briefly.
type workLog struct {
	mu sync.Mutex
	// revisions by promise, then cluster/work name: each distinct
	// spec.revision in the order seen.
	revisions map[string]map[string][]string
	// changes are the revision changes of existing Works (admissions and
	// rollbacks), in the order seen, with when the watch saw them.
	changes []workChange
}

// workChange is a Work seen rendering another revision than before.
type workChange struct {
	promise, cluster, work, revision string
	seen                             time.Time
}

func startWorkLog(t *testing.T, f *fleet) *workLog {
	t.Helper()
	c, err := client.NewWithWatch(f.env.Hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	l := &workLog{revisions: map[string]map[string][]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	started := make(chan struct{})
	go func() {
		defer close(done)
		resourceVersion := ""
		for ctx.Err() == nil {
			list := &fleetv1alpha1.WorkList{}
			if resourceVersion == "" {
				if err := c.List(ctx, list); err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				for i := range list.Items {
					l.record(&list.Items[i])
				}
				resourceVersion = list.ResourceVersion
				select {
				case <-started:
				default:
					close(started)
				}
			}
			w, err := c.Watch(ctx, &fleetv1alpha1.WorkList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: resourceVersion}})
			if err != nil {
				resourceVersion = "" // expired or refused: list again
				continue
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					resourceVersion = ""
					break
				}
				if work, ok := ev.Object.(*fleetv1alpha1.Work); ok {
					l.record(work)
					resourceVersion = work.ResourceVersion
				}
			}
			w.Stop()
		}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the Work log did not start")
	}
	return l
}

func (l *workLog) record(w *fleetv1alpha1.Work) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byWork := l.revisions[w.Spec.Subject.Promise]
	if byWork == nil {
		byWork = map[string][]string{}
		l.revisions[w.Spec.Subject.Promise] = byWork
	}
	key := w.Spec.Cluster + "/" + w.Name
	revs := byWork[key]
	if len(revs) == 0 || revs[len(revs)-1] != w.Spec.Revision {
		byWork[key] = append(revs, w.Spec.Revision)
		if len(revs) > 0 {
			l.changes = append(l.changes, workChange{promise: w.Spec.Subject.Promise, cluster: w.Spec.Cluster, work: w.Name,
				revision: w.Spec.Revision, seen: time.Now()})
		}
	}
}

// changesOf returns the revision changes of promise's Works, in the order seen.
func (l *workLog) changesOf(promise string) []workChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []workChange
	for _, c := range l.changes {
		if c.promise == promise {
			out = append(out, c)
		}
	}
	return out
}

// history returns each Work's revisions of promise, by cluster/work name.
func (l *workLog) history(promise string) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for k, v := range l.revisions[promise] {
		out[k] = slices.Clone(v)
	}
	return out
}

// rendered reports which of members ever had a Work of promise rendering revision.
func (l *workLog) rendered(promise, revision string, members ...string) []string {
	var out []string
	for key, revs := range l.history(promise) {
		cluster, _, _ := strings.Cut(key, "/")
		if slices.Contains(members, cluster) && slices.Contains(revs, revision) && !slices.Contains(out, cluster) {
			out = append(out, cluster)
		}
	}
	sort.Strings(out)
	return out
}

// ---- small checks -------------------------------------------------------------

func conditionIs(ro *fleetv1alpha1.Rollout, typ string, status metav1.ConditionStatus, reason string) bool {
	c := meta.FindStatusCondition(ro.Status.Conditions, typ)
	return c != nil && c.Status == status && (reason == "" || c.Reason == reason)
}

// historyHas reports whether a history entry enters phase to (on wave, if
// given) by actor (if given).
func historyHas(ro *fleetv1alpha1.Rollout, to fleetv1alpha1.RolloutPhase, wave, actor string) bool {
	for _, h := range ro.Status.History {
		if h.To == to && (wave == "" || h.Wave == wave) && (actor == "" || h.Actor == actor) {
			return true
		}
	}
	return false
}
