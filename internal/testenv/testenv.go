// Package testenv starts real Kubernetes control planes on loopback ports, with
// no Docker: etcd and kube-apiserver for a hub; plus kube-controller-manager,
// kube-scheduler and kwok with fake nodes for a member, so Pods run and
// Deployments become Available. Tests and `flotilla dev up` share it.
//
// Every child process is started with Pdeathsig and stopped by PID, so nothing
// outlives the process that started it, even when a test crashes.
package testenv

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	hubconfig "github.com/flotilla-dev/flotilla/config/hub"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Role says which processes a control plane runs.
type Role string

const (
	// RoleHub runs etcd and kube-apiserver: enough for CRDs and controllers.
	RoleHub Role = "hub"
	// RoleMember adds kube-controller-manager, kube-scheduler and kwok, so
	// workloads are scheduled onto fake nodes and become Ready.
	RoleMember Role = "member"
)

// DirPrefix starts the name of every temporary directory testenv creates. It
// appears in the command line of every child process, which lets a CI step
// prove that no process outlived its test.
const DirPrefix = "flotilla-testenv-"

// FailingImagePrefix is the image prefix kwok never makes Ready (its Pods
// wait in ImagePullBackOff): a Deployment rolled to such an image simulates
// a bad release.
const FailingImagePrefix = "fail.invalid/"

// CrashingImagePrefix is the image prefix whose Pods kwok runs and reports
// crash-looping (CrashLoopBackOff, last exit code 1), never Ready.
const CrashingImagePrefix = "crash.invalid/"

// DefaultNodes is how many fake nodes a member gets unless told otherwise.
const DefaultNodes = 3

//go:embed kwok-stages.yaml
var kwokStages []byte

// Options describe one control plane.
type Options struct {
	// Name identifies the control plane in logs and in its kubeconfig context.
	Name string
	// Role selects hub or member. Defaults to hub.
	Role Role
	// Dir holds certificates, data and logs. When empty a temporary directory
	// is created and removed by Stop.
	Dir string
	// Nodes is the number of fake kwok nodes of a member. Defaults to DefaultNodes.
	Nodes int
	// BinDir holds the control-plane binaries. Defaults to BinDir().
	BinDir string
	// StartTimeout bounds the whole start. Defaults to 90s.
	StartTimeout time.Duration
	// APIServerArgs are extra kube-apiserver flags, after (and so overriding)
	// the defaults: tuning for a benchmark, e.g.
	// --feature-gates=DetectCacheInconsistency=false.
	APIServerArgs []string
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	Name string
	Role Role
	// Dir holds certificates, data, logs and the admin kubeconfig.
	Dir string
	// KubeconfigPath is an admin (system:masters) kubeconfig for this control plane.
	KubeconfigPath string
	// RESTConfig is the admin client configuration, with client rate limits raised.
	RESTConfig *rest.Config
	// Server is the API server URL.
	Server string

	ownsDir       bool
	binDir        string
	apiserverArgs []string // kept to restart it on the same port and data
	mu            sync.Mutex
	procs         []*process
	stopOnce      sync.Once
}

// Start brings a control plane up and waits until it serves (and, for a
// member, until its nodes are Ready and schedulable). On error everything it
// started is stopped again.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if opts.Role == "" {
		opts.Role = RoleHub
	}
	if opts.Role != RoleHub && opts.Role != RoleMember {
		return nil, fmt.Errorf("unknown control-plane role %q", opts.Role)
	}
	if opts.Name == "" {
		opts.Name = string(opts.Role)
	}
	if opts.Nodes <= 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 90 * time.Second
	}
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = BinDir(); err != nil {
			return nil, err
		}
	}

	cp := &ControlPlane{Name: opts.Name, Role: opts.Role, Dir: opts.Dir}
	if cp.Dir == "" {
		dir, err := os.MkdirTemp("", DirPrefix+opts.Name+"-")
		if err != nil {
			return nil, fmt.Errorf("creating control-plane directory: %w", err)
		}
		cp.Dir, cp.ownsDir = dir, true
	} else if err := os.MkdirAll(cp.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating control-plane directory: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := cp.start(ctx, binDir, opts); err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("starting %s control plane %q: %w", opts.Role, opts.Name, err)
	}
	return cp, nil
}

func (c *ControlPlane) start(ctx context.Context, binDir string, opts Options) error {
	pki, err := writePKI(c.Dir)
	if err != nil {
		return err
	}
	// Ports are picked free just before use; a collision with another process
	// grabbing the same port in between shows up as a start failure, retried
	// with fresh ports.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err = c.startEtcdAndAPIServer(ctx, binDir, pki, opts.APIServerArgs)
		if err == nil {
			break
		}
		c.stopProcesses()
		if attempt == attempts || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
	}
	if opts.Role == RoleMember {
		return c.startWorkloadPlane(ctx, binDir, opts.Nodes)
	}
	return nil
}

func (c *ControlPlane) startEtcdAndAPIServer(ctx context.Context, binDir string, pki *pki, extraAPIServerArgs []string) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	dataDir := filepath.Join(c.Dir, "etcd")
	if err := os.RemoveAll(dataDir); err != nil {
		return fmt.Errorf("clearing etcd data: %w", err)
	}
	etcd, err := c.run("etcd", filepath.Join(binDir, "etcd"),
		"--name=default",
		"--data-dir="+dataDir,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}

	c.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	c.binDir = binDir
	c.apiserverArgs = []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + c.path(servingCertFile),
		"--tls-private-key-file=" + c.path(servingKeyFile),
		"--client-ca-file=" + c.path(caCertFile),
		"--service-account-key-file=" + c.path(saPubFile),
		"--service-account-signing-key-file=" + c.path(saKeyFile),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--v=0",
	}
	c.apiserverArgs = append(c.apiserverArgs, extraAPIServerArgs...)
	apiserver, err := c.run("kube-apiserver", filepath.Join(binDir, "kube-apiserver"), c.apiserverArgs...)
	if err != nil {
		return err
	}

	if err := c.writeKubeconfig(pki); err != nil {
		return err
	}
	if err := c.waitServing(ctx, etcd, apiserver); err != nil {
		return err
	}
	return nil
}

func (c *ControlPlane) startWorkloadPlane(ctx context.Context, binDir string, nodes int) error {
	if _, err := c.run("kube-controller-manager", filepath.Join(binDir, "kube-controller-manager"),
		"--kubeconfig="+c.KubeconfigPath,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--controllers=*",
		"--leader-elect=false",
		"--secure-port=0",
		"--service-account-private-key-file="+c.path(saKeyFile),
		"--root-ca-file="+c.path(caCertFile),
		"--cluster-signing-cert-file="+c.path(caCertFile),
		"--cluster-signing-key-file="+c.path(caKeyFile),
		"--use-service-account-credentials=false",
		// Fake nodes are fine as soon as they report; react to it quickly.
		"--node-monitor-period=2s",
		"--v=0",
	); err != nil {
		return err
	}
	if _, err := c.run("kube-scheduler", filepath.Join(binDir, "kube-scheduler"),
		"--kubeconfig="+c.KubeconfigPath,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--leader-elect=false",
		"--secure-port=0",
		"--v=0",
	); err != nil {
		return err
	}
	stagesPath := c.path("kwok-stages.yaml")
	if err := os.WriteFile(stagesPath, kwokStages, 0o600); err != nil {
		return fmt.Errorf("writing kwok stages: %w", err)
	}
	if _, err := c.run("kwok", filepath.Join(binDir, "kwok"),
		"--kubeconfig="+c.KubeconfigPath,
		"--config="+stagesPath,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kwokNodeAnnotation+"=fake",
		"--node-lease-duration-seconds=40",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.0.0.2",
	); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	if err := createFakeNodes(ctx, client, nodes); err != nil {
		return err
	}
	return c.waitNodesSchedulable(ctx, client, nodes)
}

// StopAPIServer stops the kube-apiserver only, leaving etcd and everything
// else running: the hub outage that agents must survive.
func (c *ControlPlane) StopAPIServer() {
	c.mu.Lock()
	var apiserver *process
	for i, p := range c.procs {
		if p.name == "kube-apiserver" {
			apiserver = p
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	if apiserver != nil {
		apiserver.stop(10 * time.Second)
	}
}

// StartAPIServer starts the kube-apiserver again after StopAPIServer, on the
// same port and data, and waits until it serves.
func (c *ControlPlane) StartAPIServer(ctx context.Context) error {
	for _, p := range c.processes() {
		if p.name == "kube-apiserver" {
			return errors.New("kube-apiserver is already running")
		}
	}
	apiserver, err := c.run("kube-apiserver", filepath.Join(c.binDir, "kube-apiserver"), c.apiserverArgs...)
	if err != nil {
		return err
	}
	return c.waitServing(ctx, apiserver)
}

// run starts one child process and remembers it for Stop.
func (c *ControlPlane) run(name, binary string, args ...string) (*process, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("%s binary: %w (run `make tools`)", name, err)
	}
	p, err := startProcess(c.Dir, name, binary, args...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// waitServing polls /readyz until the API server answers, failing fast if a
// process it depends on has exited.
func (c *ControlPlane) waitServing(ctx context.Context, deps ...*process) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	var lastErr error
	for {
		for _, p := range deps {
			if done, why := p.exited(); done {
				return fmt.Errorf("%s %w; last log lines:\n%s", p.name, why, p.tailLog(20))
			}
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if lastErr == nil {
				return fmt.Errorf("waiting for kube-apiserver to be ready: %w", ctx.Err())
			}
			return fmt.Errorf("waiting for kube-apiserver to be ready: %w (last error: %w)", ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *ControlPlane) writeKubeconfig(pki *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: pki.caCertPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: pki.adminCertPEM, ClientKeyData: pki.adminKeyPEM}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: "admin"}
	cfg.CurrentContext = c.Name
	c.KubeconfigPath = c.path("admin.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, c.KubeconfigPath); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	restConfig, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	// Tests and dev tooling create many objects quickly; the default 5 QPS would dominate.
	restConfig.QPS, restConfig.Burst = 200, 400
	c.RESTConfig = restConfig
	return nil
}

// Stop terminates every process of the control plane, in reverse start order,
// and removes the directory if Start created it. Safe to call more than once.
func (c *ControlPlane) Stop() error {
	var err error
	c.stopOnce.Do(func() {
		c.stopProcesses()
		if c.ownsDir {
			err = os.RemoveAll(c.Dir)
		}
	})
	return err
}

func (c *ControlPlane) stopProcesses() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop(10 * time.Second)
	}
}

// PIDs returns the process ids of the running children, for cleanup checks.
func (c *ControlPlane) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make([]int, 0, len(c.procs))
	for _, p := range c.procs {
		pids = append(pids, p.pid())
	}
	return pids
}

// Logs returns the last lines of each process log, for diagnosing failures.
func (c *ControlPlane) Logs(lines int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "--- %s/%s (%s)\n%s\n", c.Name, p.name, p.logPath, p.tailLog(lines))
	}
	return b.String()
}

func (c *ControlPlane) path(name string) string { return filepath.Join(c.Dir, name) }

// FreeAddr is a loopback address (127.0.0.1:PORT) that nothing listens on
// just now: for a test's listener, or for a server that is down.
func FreeAddr(t TB) string {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// BinDir finds the control-plane binaries: $FLOTILLA_KUBE_BIN, else bin/kube
// next to the running executable, else bin/kube in the nearest ancestor of the
// working directory (the repository root when running `go test`).
func BinDir() (string, error) {
	if dir := os.Getenv("FLOTILLA_KUBE_BIN"); dir != "" {
		return dir, nil
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "kube"))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, "bin", "kube"))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("control-plane binaries not found: run `make tools` (or set FLOTILLA_KUBE_BIN)")
}

func (c *ControlPlane) processes() []*process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*process(nil), c.procs...)
}

// InstallCRDs installs CRDs into this control plane and waits until they are
// Established. When they include Flotilla's Rollout CRD, it also installs the
// admission policies every hub runs with (config/hub/actors-policy.yaml), so
// that every test hub and `flotilla dev up` enforce them.
func (c *ControlPlane) InstallCRDs(ctx context.Context, crds []*apiextensionsv1.CustomResourceDefinition) error {
	if err := kube.InstallCRDs(ctx, c.RESTConfig, crds); err != nil {
		return err
	}
	for _, crd := range crds {
		if crd.Name == rolloutCRD {
			return c.InstallHubPolicies(ctx)
		}
	}
	return nil
}

// rolloutCRD names the CRD of Rollouts.
const rolloutCRD = "rollouts.fleet.flotilla.dev"

// InstallHubPolicies installs the hub's admission policies
// (config/hub/actors-policy.yaml).
func (c *ControlPlane) InstallHubPolicies(ctx context.Context) error {
	policies, bindings, err := hubconfig.ActorPolicies()
	if err != nil {
		return err
	}
	return kube.InstallAdmissionPolicies(ctx, c.RESTConfig, policies, bindings)
}
