// etcd as go.etcd.io/etcd/server/v3's own main does it: etcdmain parses the flags and runs the member.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
