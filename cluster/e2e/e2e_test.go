// Package e2e links Kubernetes' own e2e suite (k8s.io/kubernetes v1.37.2)
// out of tree, so it can run against a local control plane with nodelet as
// the node. Only the test packages nodelet is measured against are linked:
// test/e2e itself (RunE2ETests, the suite setup that waits for Ready nodes,
// and test/e2e/common: common/node, common/storage, common/network) plus
// test/e2e/node (PreStop, Pods Extended, Security Context, ...). The focus is
// chosen at run time (scripts/conformance.sh).
//
// Built with `go test -c` by scripts/go-build.sh; run the binary with
// --kubeconfig, -ginkgo.focus, -ginkgo.skip, --report-dir, --list-images.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"k8s.io/component-base/version"
	conformancetestdata "k8s.io/kubernetes/test/conformance/testdata"
	"k8s.io/kubernetes/test/e2e"
	"k8s.io/kubernetes/test/e2e/framework"
	"k8s.io/kubernetes/test/e2e/framework/config"
	"k8s.io/kubernetes/test/e2e/framework/testfiles"
	e2etestingmanifests "k8s.io/kubernetes/test/e2e/testing-manifests"
	testfixtures "k8s.io/kubernetes/test/fixtures"

	// Define and freeze the feature constants before any test registers.
	_ "k8s.io/kubernetes/test/e2e/feature"

	// Test sources beyond test/e2e/common (which test/e2e already links).
	_ "k8s.io/kubernetes/test/e2e/node"

	// Reconfigure the framework as upstream's e2e.test does.
	_ "k8s.io/kubernetes/test/e2e/framework/debug/init"
	_ "k8s.io/kubernetes/test/e2e/framework/metrics/init"
	_ "k8s.io/kubernetes/test/e2e/framework/node/init"
	_ "k8s.io/kubernetes/test/utils/ktesting/format"
)

func TestMain(m *testing.M) {
	var versionFlag bool
	flag.CommandLine.BoolVar(&versionFlag, "version", false, "Displays version information.")

	config.CopyFlags(config.Flags, flag.CommandLine)
	framework.RegisterCommonFlags(flag.CommandLine)
	framework.RegisterClusterFlags(flag.CommandLine)
	flag.Parse()

	if versionFlag {
		fmt.Printf("%s\n", version.Get())
		os.Exit(0)
	}
	if flag.CommandLine.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unknown additional command line arguments: %s\n", flag.CommandLine.Args())
		os.Exit(1)
	}

	// Manifests and fixtures some tests read, embedded in the binary.
	testfiles.AddFileSource(e2etestingmanifests.GetE2ETestingManifestsFS())
	testfiles.AddFileSource(testfixtures.GetTestFixturesFS())
	testfiles.AddFileSource(conformancetestdata.GetConformanceTestdataFS())

	// Handles --list-images (prints and exits) and validates the flags.
	framework.AfterReadingAllFlags(&framework.TestContext)

	os.Exit(m.Run())
}

func TestE2E(t *testing.T) {
	e2e.RunE2ETests(t)
}
