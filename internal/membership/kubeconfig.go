package membership

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// agentKubeconfig returns a kubeconfig that reaches the hub at server with
// token, trusting the hub's CA from hub (CAData, else CAFile), with the
// cluster's namespace as default.
func agentKubeconfig(hub *rest.Config, server, cluster, token string) ([]byte, error) {
	ca := hub.CAData
	if len(ca) == 0 && hub.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(hub.CAFile); err != nil {
			return nil, fmt.Errorf("reading the hub CA: %w", err)
		}
	}
	const name = "flotilla-hub"
	user := "flotilla-agent-" + cluster
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: ca,
		TLSServerName:            hub.ServerName,
		InsecureSkipTLSVerify:    hub.Insecure,
	}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: fleetv1alpha1.ClusterNamespace(cluster)}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("writing the agent kubeconfig: %w", err)
	}
	return data, nil
}
