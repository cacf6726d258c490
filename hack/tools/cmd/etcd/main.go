// Code in this file is the few-line main of the upstream command, so one
// `go build ./cmd/...` builds every control-plane binary the tests need.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
