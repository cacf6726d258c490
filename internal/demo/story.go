package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// member is one member cluster of the demo fleet.
type member struct {
	name, wave string
	c          client.Client
}

// demo is the story's state on a running fleet.
type demo struct {
	n        *narrator
	dir      string // the environment directory, as shown to the user
	hub      client.Client
	members  []member
	rollouts *rolloutctl.Client
	// webs are the teams' instances, as instances.yaml declares them.
	webs []*unstructured.Unstructured
	// goodRevision is the PromiseRevision of the good change.
	goodRevision string
}

func newDemo(env *devenv.Env, n *narrator, dir string) (*demo, error) {
	scheme := kube.NewScheme()
	hub, err := client.New(env.Hub.RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating a hub client: %w", err)
	}
	d := &demo{n: n, dir: dir, hub: hub}
	for i, m := range env.Members {
		c, err := client.New(m.RESTConfig, client.Options{Scheme: scheme})
		if err != nil {
			return nil, fmt.Errorf("creating a client of %s: %w", m.Name, err)
		}
		d.members = append(d.members, member{name: m.Name, wave: waveOf(i + 1), c: c})
	}
	if d.rollouts, err = rolloutctl.New(env.Hub.RESTConfig, func(msg string) { n.say("warning: %s", msg) }); err != nil {
		return nil, err
	}
	if d.webs, err = decodeAsset(instancesAsset); err != nil {
		return nil, err
	}
	return d, nil
}

// 1. The fleet: every member joined and heartbeating.
func (d *demo) clustersUp(ctx context.Context, started time.Time) error {
	availability := map[string]fleetv1alpha1.ClusterAvailability{}
	err := poll(ctx, clustersTimeout, "every member Available on the hub", func(ctx context.Context) (bool, string, error) {
		var list fleetv1alpha1.ClusterList
		if err := d.hub.List(ctx, &list); err != nil {
			return false, err.Error(), nil
		}
		available := 0
		for _, c := range list.Items {
			availability[c.Name] = c.Status.Availability
			if c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable {
				available++
			}
		}
		return available == len(d.members), fmt.Sprintf("%d of %d Available", available, len(d.members)), nil
	})
	if err != nil {
		return err
	}
	d.n.say("The fleet is ready in %s (control planes, CRDs, joins and first heartbeats):", time.Since(started).Round(100*time.Millisecond))
	d.n.block(clusterTable(d.bare(), availability, d.memberKubeconfig))
	return nil
}

// 2. The platform team's rules: the Fleet and the RolloutStrategy.
func (d *demo) rules(ctx context.Context) error {
	d.n.heading("The platform team's rules: a Fleet and a RolloutStrategy",
		"The Fleet `demo` names the clusters teams may use (all five) and the teams allowed on them (team-a, team-b).",
		"The strategy says how a change crosses them: wave by wave, each with a failure budget, a bake time and a",
		"progress deadline; the general wave also waits for an approval. On a breached budget it rolls back.")
	d.n.cmd("kubectl apply -f "+d.manifest(fleetAsset),
		"kubectl get rolloutstrategy "+strategyName+" -o yaml")
	if err := d.apply(ctx, fleetAsset); err != nil {
		return err
	}
	var s fleetv1alpha1.RolloutStrategy
	if err := d.hub.Get(ctx, client.ObjectKey{Name: strategyName}, &s); err != nil {
		return fmt.Errorf("reading rollout strategy %s: %w", strategyName, err)
	}
	table, err := strategyTable(&s.Spec, d.bare())
	if err != nil {
		return fmt.Errorf("rollout strategy %s: %w", strategyName, err)
	}
	d.n.block(table)
	return nil
}

// 3. The Promise: a Web API.
func (d *demo) promise(ctx context.Context) error {
	d.n.heading("A Promise: the platform team publishes a Web API",
		"The Promise declares an API (kind Web, group demo.flotilla.dev) and templates that render each Web into a",
		"Namespace and a Deployment running "+firstImage+". The hub generates the API's CRD and snapshots the content as",
		"an immutable PromiseRevision; every later change to it is a new revision, moved by a Rollout.")
	d.n.cmd("kubectl apply -f "+d.manifest(promiseAsset),
		"kubectl get promises,promiserevisions")
	if err := d.apply(ctx, promiseAsset); err != nil {
		return err
	}
	var revision string
	err := poll(ctx, promiseTimeout, "promise "+promiseName+" Ready", func(ctx context.Context) (bool, string, error) {
		p := &fleetv1alpha1.Promise{}
		if err := d.hub.Get(ctx, client.ObjectKey{Name: promiseName}, p); err != nil {
			return false, err.Error(), nil
		}
		revision = p.Status.LatestRevision
		ready := p.Status.ObservedGeneration == p.Generation && meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionReady)
		return ready && revision != "", fmt.Sprintf("conditions %v", p.Status.Conditions), nil
	})
	if err != nil {
		return err
	}
	d.n.say("Promise %s is Ready: the hub serves webs.demo.flotilla.dev, and the first revision is %s.", promiseName, revision)
	return nil
}

// 4. Two teams' instances, everywhere.
func (d *demo) instances(ctx context.Context) error {
	d.n.heading("Two teams ask for a Web",
		"Team A requests storefront (2 replicas) in its namespace team-a; team B requests checkout in team-b. The hub",
		"places each on the demo Fleet's clusters and writes one Work per instance and cluster; each member's agent",
		"pulls its Works and applies them with server-side apply, then reports health back.")
	d.n.cmd("kubectl apply -f "+d.manifest(instancesAsset),
		"kubectl get webs -A",
		fmt.Sprintf("kubectl --kubeconfig %s get deployments -A -o wide", d.memberKubeconfig(d.members[len(d.members)-1].name)))
	if err := d.apply(ctx, instancesAsset); err != nil {
		return err
	}
	for _, w := range d.webs {
		key := client.ObjectKeyFromObject(w)
		err := poll(ctx, instanceTimeout, fmt.Sprintf("web %s Ready on every cluster", key), func(ctx context.Context) (bool, string, error) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(w.GroupVersionKind())
			if err := d.hub.Get(ctx, key, u); err != nil {
				return false, err.Error(), nil
			}
			return instanceReady(u, int32(len(d.members)))
		})
		if err != nil {
			return err
		}
	}
	states, err := d.settle(ctx, firstImage)
	if err != nil {
		return err
	}
	d.n.say("Both Webs run on every member:")
	d.n.block(imageTable(states))
	return nil
}

// 5. A good change, through the pilot and the canary, up to the approval.
func (d *demo) goodChange(ctx context.Context) (string, error) {
	d.n.heading("Change 1: the platform team moves Web to "+goodImage,
		"Editing the Promise's template makes a new revision. The hub does not push it everywhere at once: it starts",
		"a Rollout that admits the pilot, lets it bake, then the canary, and stops before the general wave, which",
		"needs an approval. Below: the Rollout's waves and what each member runs, live.")
	name, err := d.changeImage(ctx, firstImage, goodImage)
	if err != nil {
		return "", err
	}
	d.n.cmd(fmt.Sprintf("kubectl edit promise %s   # image: %s → %s", promiseName, firstImage, goodImage),
		"flotilla rollout status -w "+name)
	ro, err := d.follow(ctx, name, func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval
	})
	if err != nil {
		return "", err
	}
	if ro.Status.Phase != fleetv1alpha1.RolloutPhaseWaitingForApproval || ro.Status.CurrentWave != approvalWave {
		return "", fmt.Errorf("rollout %s: %s (wave %s), want it waiting for an approval of wave %s",
			name, ro.Status.Phase, orDash(ro.Status.CurrentWave), approvalWave)
	}
	d.goodRevision = ro.Spec.TargetRevision
	return name, nil
}

// 6. A person approves the general wave; the change completes.
func (d *demo) approve(ctx context.Context, name string) error {
	d.n.heading("An approval: a person lets the general wave start",
		"The pilot and the canary baked healthy; the general wave waits for someone to approve it. The approval",
		"records who gave it (the hub's answer to a SelfSubjectReview of your credentials), when and why.")
	d.n.cmd(fmt.Sprintf("flotilla rollout approve %s -m %q", name, approvalMessage))
	approver, err := d.rollouts.Identity(ctx)
	if err != nil {
		return err
	}
	res, err := d.rollouts.Approve(ctx, fleetv1alpha1.PlatformNamespace, name, rolloutctl.ApproveOptions{Message: approvalMessage})
	if err != nil {
		return err
	}
	d.n.say("%s", res.Summary)
	ro, err := d.follow(ctx, name, func(*fleetv1alpha1.Rollout) bool { return false })
	if err != nil {
		return err
	}
	if err := checkSucceeded(ro, approvalWave, approver); err != nil {
		return err
	}
	if _, err := d.settle(ctx, goodImage); err != nil {
		return err
	}
	d.n.ok("rollout %s Succeeded: every member runs %s; wave %s was approved by %s.", name, goodImage, approvalWave, approver)
	d.n.say("Its history (`flotilla rollout history %s`):", name)
	d.n.block(historyTable(ro))
	return nil
}

// 7. A bad change: the canary breaches its budget and the hub rolls back.
func (d *demo) badChange(ctx context.Context) (*fleetv1alpha1.Rollout, error) {
	d.n.heading("Change 2: a bad release, "+badImage,
		"This image never starts on these clusters (kwok keeps images under "+testenv.FailingImagePrefix+" in ImagePullBackOff): a release",
		"that crashes. The pilot takes it first and fails within seconds, naming the member's reason (ImagePullBackOff);",
		"its budget tolerates that one failure, so the canary gets it next. Both canary clusters fail: more than the canary's budget of one,",
		"so the hub rolls every admitted cluster back to "+goodImage+" by itself. The general wave never sees it.")
	name, err := d.changeImage(ctx, goodImage, badImage)
	if err != nil {
		return nil, err
	}
	d.n.cmd(fmt.Sprintf("kubectl edit promise %s   # image: %s → %s", promiseName, goodImage, badImage),
		"flotilla rollout status -w "+name)
	return d.follow(ctx, name, func(*fleetv1alpha1.Rollout) bool { return false })
}

// 8. After the rollback: the fleet on the good image, and why.
func (d *demo) aftermath(ctx context.Context, ro *fleetv1alpha1.Rollout) error {
	d.n.heading("After the rollback: every member back on "+goodImage,
		"The Rollout ended RolledBack. Its status keeps the failed clusters with the members' reasons, and its history",
		"who did what: here the hub itself, when the canary's budget was breached.")
	d.n.cmd("flotilla rollout status "+ro.Name, "flotilla rollout history "+ro.Name, "flotilla rollout list")
	var canary []string
	for _, m := range d.members {
		if m.wave == budgetWave {
			canary = append(canary, m.name)
		}
	}
	if err := checkRolledBack(ro, d.goodRevision, budgetWave, canary); err != nil {
		return err
	}
	states, err := d.settle(ctx, goodImage)
	if err != nil {
		return err
	}
	d.n.block(imageTable(states))
	d.n.say("Failed clusters:")
	d.n.block(failureList(ro, d.n.width))
	d.n.ok("rollout %s RolledBack: wave %s (%s) breached its failure budget, and every member is back on %s.",
		ro.Name, budgetWave, strings.Join(canary, ", "), goodImage)
	return nil
}

// follow shows a Rollout live until it is terminal or stop says so, and
// returns it as last read.
func (d *demo) follow(ctx context.Context, name string, stop func(*fleetv1alpha1.Rollout) bool) (*fleetv1alpha1.Rollout, error) {
	view := d.n.live()
	deadline := time.Now().Add(rolloutTimeout)
	var (
		ro      *fleetv1alpha1.Rollout
		members []memberState
		lastErr error
	)
	for {
		got, err := d.rollouts.Get(ctx, fleetv1alpha1.PlatformNamespace, name)
		var notFound *rolloutctl.NotFoundError
		switch {
		case err == nil:
			ro = got
		case !errors.As(err, &notFound):
			lastErr = err
		}
		if states, err := d.observe(ctx); err == nil {
			members = states
		} else {
			lastErr = err
		}
		view.show(rolloutFrame(name, ro, members), time.Now())
		if ro != nil && (ro.Status.Phase.IsTerminal() || stop(ro)) {
			return ro, nil
		}
		if time.Now().After(deadline) {
			phase := "not created"
			if ro != nil {
				phase = orDash(string(ro.Status.Phase))
			}
			err := fmt.Errorf("rollout %s: not done within %s (phase %s)", name, rolloutTimeout, phase)
			if lastErr != nil {
				err = fmt.Errorf("%w; last error: %w", err, lastErr)
			}
			return nil, err
		}
		if !sleep(ctx, liveViewInterval) {
			return nil, fmt.Errorf("following rollout %s: %w", name, ctx.Err())
		}
	}
}

// settle waits until every instance on every member runs image, rolled out
// and available, and returns what they run.
func (d *demo) settle(ctx context.Context, image string) ([]memberState, error) {
	var states []memberState
	err := poll(ctx, settleTimeout, "every member running "+image, func(ctx context.Context) (bool, string, error) {
		var err error
		if states, err = d.observe(ctx); err != nil {
			return false, err.Error(), nil
		}
		if err := checkImages(states, image); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	return states, err
}

// changeImage edits the Promise's template from one image to another and
// returns the name of the Rollout the hub starts for it.
func (d *demo) changeImage(ctx context.Context, from, to string) (string, error) {
	var generation int64
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &fleetv1alpha1.Promise{}
		if err := d.hub.Get(ctx, client.ObjectKey{Name: promiseName}, p); err != nil {
			return err
		}
		if err := setImage(p, from, to); err != nil {
			return err
		}
		if err := d.hub.Update(ctx, p); err != nil {
			return err
		}
		generation = p.Generation
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("changing promise %s to %s: %w", promiseName, to, err)
	}
	// The hub names a Promise change's Rollout <promise>-<generation>.
	return fmt.Sprintf("%s-%d", promiseName, generation), nil
}

// setImage replaces the one `image: from` of a Promise's Go templates.
func setImage(p *fleetv1alpha1.Promise, from, to string) error {
	if p.Spec.Templates == nil {
		return fmt.Errorf("promise %s has no templates", p.Name)
	}
	old := "image: " + from
	found := 0
	for i := range p.Spec.Templates.GoTemplates {
		t := &p.Spec.Templates.GoTemplates[i]
		found += strings.Count(t.Template, old)
		t.Template = strings.ReplaceAll(t.Template, old, "image: "+to)
	}
	if found != 1 {
		return fmt.Errorf("promise %s: found %q %d times in its templates, want once", p.Name, old, found)
	}
	return nil
}

// apply creates an asset's objects on the hub. An API that the hub does not
// serve yet (an instance kind whose Promise just became Ready) is retried.
func (d *demo) apply(ctx context.Context, name string) error {
	objs, err := decodeAsset(name)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		what := fmt.Sprintf("creating %s %s", obj.GetKind(), obj.GetName())
		err := poll(ctx, time.Minute, what, func(ctx context.Context) (bool, string, error) {
			err := d.hub.Create(ctx, obj.DeepCopy())
			switch {
			case err == nil, apierrors.IsAlreadyExists(err):
				return true, "", nil
			case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
				return false, err.Error(), nil
			}
			return false, "", err
		})
		if err != nil {
			return fmt.Errorf("applying %s: %w", name, err)
		}
	}
	return nil
}

// instanceReady reports whether an instance is Ready on placed clusters.
func instanceReady(u *unstructured.Unstructured, placed int32) (bool, string, error) {
	st := fleetv1alpha1.InstanceStatus{}
	if m, ok := u.Object["status"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st); err != nil {
			return false, "", fmt.Errorf("reading the status of %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	ready := meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionReady) && st.Clusters.Placed == placed && st.Clusters.Ready == placed
	return ready, fmt.Sprintf("placed on %d, ready on %d of %d clusters", st.Clusters.Placed, st.Clusters.Ready, placed), nil
}

// bare is the members without what they run.
func (d *demo) bare() []memberState {
	out := make([]memberState, 0, len(d.members))
	for _, m := range d.members {
		out = append(out, memberState{Name: m.name, Wave: m.wave})
	}
	return out
}

func (d *demo) manifest(name string) string {
	return filepath.Join(d.dir, manifestsDir, name)
}

func (d *demo) memberKubeconfig(name string) string {
	return filepath.Join(d.dir, name+".kubeconfig")
}

// poll calls check every pollInterval until it reports done, returns an
// error, ctx ends or timeout passes; the error then says what was awaited
// and the last state check reported.
func poll(ctx context.Context, timeout time.Duration, what string, check func(context.Context) (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, state, err := check(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		case done:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%s: not within %s (last seen: %s)", what, timeout, state)
		}
		if !sleep(ctx, pollInterval) {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
