package membership

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/version"
)

// StateVolume is where the agent keeps its last desired state on the member.
type StateVolume string

const (
	// StateVolumeEmptyDir survives container restarts, not a rescheduled Pod.
	StateVolumeEmptyDir StateVolume = "emptyDir"
	// StateVolumeHostPath survives Pod restarts on the same node. The directory
	// must be writable by the agent's user (UID AgentUID).
	StateVolumeHostPath StateVolume = "hostPath"
)

// What the install manifests create on the member, and where the agent finds things.
const (
	// DefaultImageRepository holds the agent build of flotilla (`make build-agent`):
	// the same CLI without the hub's dependencies, a third smaller in memory.
	DefaultImageRepository = "ghcr.io/flotilla-dev/flotilla-agent"
	DefaultMemberNamespace = fleetv1alpha1.PlatformNamespace
	DefaultHostPath        = "/var/lib/flotilla"
	// AgentName names the agent's ServiceAccount, ClusterRoleBinding and Deployment on the member.
	AgentName = "flotilla-agent"
	// HubKubeconfigSecret holds the agent's hub kubeconfig under HubKubeconfigKey.
	HubKubeconfigSecret = "flotilla-hub-kubeconfig"
	HubKubeconfigKey    = "kubeconfig"
	// AgentUID is the non-root user the agent runs as.
	AgentUID = 65532

	hubKubeconfigDir = "/etc/flotilla/hub"
	stateDir         = "/var/lib/flotilla"
	metricsPort      = 8080
	healthPort       = 8081
	// annotationTokenExpiry on the Secret says when its token expires.
	annotationTokenExpiry = fleetv1alpha1.Group + "/token-expiry"
	// annotationKubeconfigHash on the Pod template restarts the agent when
	// re-applied manifests carry a new token.
	annotationKubeconfigHash = fleetv1alpha1.Group + "/hub-kubeconfig-hash"
)

// DefaultImage is the agent image matching this build of flotilla.
func DefaultImage() string {
	tag := version.Version
	if tag == "dev" {
		tag = "latest"
	}
	return DefaultImageRepository + ":" + tag
}

// InstallOptions shape the agent's install manifests.
type InstallOptions struct {
	// Image of flotilla (with `flotilla` on its PATH); DefaultImage() when empty.
	Image string
	// Namespace on the member for the agent; DefaultMemberNamespace when empty.
	Namespace string
	// StateVolume is emptyDir (default) or hostPath.
	StateVolume StateVolume
	// HostPath is the node directory for a hostPath state volume; DefaultHostPath when empty.
	HostPath string
	// ExtraArgs are appended to the agent's arguments (e.g. --heartbeat-interval=30s).
	ExtraArgs []string
}

func (o InstallOptions) normalize() (InstallOptions, error) {
	var errs []error
	if o.Image == "" {
		o.Image = DefaultImage()
	}
	if o.Namespace == "" {
		o.Namespace = DefaultMemberNamespace
	}
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", o.Namespace, strings.Join(msgs, "; ")))
	}
	switch o.StateVolume {
	case "":
		o.StateVolume = StateVolumeEmptyDir
	case StateVolumeEmptyDir, StateVolumeHostPath:
	default:
		errs = append(errs, fmt.Errorf("state volume %q: must be %s or %s", o.StateVolume, StateVolumeEmptyDir, StateVolumeHostPath))
	}
	if o.HostPath == "" {
		o.HostPath = DefaultHostPath
	}
	if !path.IsAbs(o.HostPath) {
		errs = append(errs, fmt.Errorf("host path %q: must be absolute", o.HostPath))
	}
	return o, errors.Join(errs...)
}

// InstallManifests returns the multi-document YAML that installs j's agent on
// its member cluster: a Namespace, a ServiceAccount bound to cluster-admin,
// a Secret with the hub kubeconfig and the agent's Deployment. A
// git-delivered cluster's agent runs with --report-only and is bound to a
// read-only ClusterRole instead.
//
// The agent is bound to cluster-admin on the member because it applies
// whatever the platform team's Promises render there (CRDs, Namespaces, RBAC,
// webhooks, workloads in any namespace) and prunes it again; any narrower role
// would break the first Promise that ships a ClusterRole, since RBAC forbids
// granting rights one does not hold. Its rights on the hub, where the risk to
// the rest of the fleet lies, are the narrow ones join grants.
func InstallManifests(j *Joined, opts InstallOptions) ([]byte, error) {
	if j == nil || j.Cluster == nil || j.Cluster.Name == "" || len(j.HubKubeconfig) == 0 {
		return nil, errors.New("install manifests need a joined cluster with its hub kubeconfig")
	}
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	scheme := kube.NewScheme()
	var out bytes.Buffer
	for _, obj := range memberObjects(j, opts) {
		u, err := toUnstructured(obj, scheme)
		if err != nil {
			return nil, err
		}
		data, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", u.GetKind(), err)
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out.Bytes(), nil
}

// memberObjects are the objects InstallManifests renders, in apply order.
func memberObjects(j *Joined, opts InstallOptions) []client.Object {
	cluster := j.Cluster.Name
	labels := map[string]string{
		"app.kubernetes.io/name":     AgentName,
		fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
		fleetv1alpha1.LabelCluster:   cluster,
	}
	meta := func(namespace, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels}
	}
	secret := &corev1.Secret{
		ObjectMeta: meta(opts.Namespace, HubKubeconfigSecret),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{HubKubeconfigKey: j.HubKubeconfig},
	}
	if !j.TokenExpiry.IsZero() {
		secret.Annotations = map[string]string{annotationTokenExpiry: j.TokenExpiry.UTC().Format(time.RFC3339)}
	}
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: opts.Namespace, Name: AgentName}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: meta("", opts.Namespace)},
		&corev1.ServiceAccount{ObjectMeta: meta(opts.Namespace, AgentName)},
	}
	binding, role := AgentName, "cluster-admin"
	if j.Cluster.Spec.Delivery.Mode == fleetv1alpha1.DeliveryGit {
		// The GitOps tool applies the Works: the agent only reports, and may
		// only read (everything, to judge whatever the Works hold, Secrets
		// included).
		opts.ExtraArgs = append([]string{"--report-only"}, opts.ExtraArgs...)
		binding, role = ReportOnlyRoleName, ReportOnlyRoleName
		objs = append(objs, &rbacv1.ClusterRole{
			ObjectMeta: meta("", ReportOnlyRoleName),
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}},
		})
	}
	return append(objs,
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: meta("", binding),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{sa},
		},
		secret,
		agentDeployment(cluster, j.HubKubeconfig, labels, opts),
	)
}

// ReportOnlyRoleName names the read-only ClusterRole (and its binding) of a
// git-delivered cluster's agent. It differs from AgentName because a
// binding's roleRef cannot change: a cluster switched from agent to git
// delivery gets a new binding, and its old cluster-admin one is deleted by hand.
const ReportOnlyRoleName = AgentName + "-report-only"

func agentDeployment(cluster string, kubeconfig []byte, labels map[string]string, opts InstallOptions) *appsv1.Deployment {
	selector := map[string]string{"app.kubernetes.io/name": AgentName}
	hash := sha256.Sum256(kubeconfig)
	args := append([]string{
		"agent",
		"--cluster", cluster,
		"--hub-kubeconfig", path.Join(hubKubeconfigDir, HubKubeconfigKey),
		"--state-dir", stateDir,
		"--claim-namespace", opts.Namespace,
		"--metrics-bind-address", fmt.Sprintf(":%d", metricsPort),
		"--health-probe-bind-address", fmt.Sprintf(":%d", healthPort),
	}, opts.ExtraArgs...)

	state := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	if opts.StateVolume == StateVolumeHostPath {
		state = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: opts.HostPath, Type: ptr.To(corev1.HostPathDirectoryOrCreate),
		}}
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("health")}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: 3,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: opts.Namespace, Name: AgentName, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			// One agent at a time: two would fight over the same Works and Lease.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels,
					Annotations: map[string]string{annotationKubeconfigHash: hex.EncodeToString(hash[:8])},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName: AgentName,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](AgentUID),
						RunAsGroup:     ptr.To[int64](AgentUID),
						FSGroup:        ptr.To[int64](AgentUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    "agent",
						Image:   opts.Image,
						Command: []string{"flotilla"},
						Args:    args,
						Ports: []corev1.ContainerPort{
							{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP},
							{Name: "health", ContainerPort: healthPort, Protocol: corev1.ProtocolTCP},
						},
						LivenessProbe:  probe("/healthz", 20),
						ReadinessProbe: probe("/readyz", 10),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("10m"),
								corev1.ResourceMemory: resource.MustParse("64Mi"),
							},
							Limits: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("500m"),
								corev1.ResourceMemory: resource.MustParse("256Mi"),
							},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "hub-kubeconfig", MountPath: hubKubeconfigDir, ReadOnly: true},
							{Name: "state", MountPath: stateDir},
							{Name: "tmp", MountPath: "/tmp"},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "hub-kubeconfig", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: HubKubeconfigSecret, DefaultMode: ptr.To[int32](0o440),
						}}},
						{Name: "state", VolumeSource: state},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
}
