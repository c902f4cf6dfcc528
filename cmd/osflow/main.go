// Command osflow is the operator CLI, the worker and the all-in-one dev
// environment of osflow.
package main

import (
	"fmt"
	"os"

	"github.com/osflow/osflow/starter"
)

func main() {
	err := starter.Execute(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "osflow: %v\n", err)
	}
	os.Exit(starter.ExitCode(err))
}
