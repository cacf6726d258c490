package logging

import (
	"bytes"
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// logSome logs what the tests compare: every level, a V-level, an object
// and an error.
func logSome(l logr.Logger) {
	obj := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}}
	l.Info("starting agent", "cluster", "edge-1", "works", 3)
	l.V(1).Info("detail", "work", "w")
	l.V(2).Info("more detail")
	l.WithName("agent").WithValues("cluster", "edge-1").Info("applied", "object", obj)
	l.Error(errors.New("boom"), "failed", "work", "w")
}

// timestamps are the times the two loggers write at different moments.
var timestamps = regexp.MustCompile(`"ts":"[^"]*"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)|"ts":[0-9.e+]+|^[0-9.e+]+\t`)

// The agent build's logger writes what controller-runtime's does (the full
// build's), for the same flags.
func TestSameOutputAsControllerRuntime(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--zap-log-level", "2"},
		{"--zap-log-level", "error"},
		{"--zap-devel"},
		{"--zap-encoder", "console"},
		{"--zap-devel", "--zap-encoder", "json", "--zap-stacktrace-level", "panic"},
		{"--zap-time-encoding", "epoch", "--zap-log-level", "debug"},
	} {
		var ours, theirs bytes.Buffer
		o := Options{Out: &ours}
		fs := flag.NewFlagSet("ours", flag.ContinueOnError)
		o.BindFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		cr := crzap.Options{DestWriter: &theirs}
		crfs := flag.NewFlagSet("theirs", flag.ContinueOnError)
		cr.BindFlags(crfs)
		if err := crfs.Parse(args); err != nil {
			t.Fatalf("controller-runtime %v: %v", args, err)
		}
		for _, l := range []logr.Logger{New(o), crzap.New(crzap.UseFlagOptions(&cr))} {
			logSome(l)
		}
		// Stack traces differ in the line logSome was called from only.
		got, want := normalise(ours.String()), normalise(theirs.String())
		if got != want {
			t.Errorf("%v:\nours:\n%s\ncontroller-runtime's:\n%s", args, got, want)
		}
		if !strings.Contains(got, `"failed"`) && !strings.Contains(got, "\tfailed\t") {
			t.Errorf("%v: nothing logged:\n%s", args, got)
		}
	}
}

// normalise drops times and the test's own line numbers.
func normalise(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = timestamps.ReplaceAllString(line, "TIME")
		out = append(out, regexp.MustCompile(`logging_test\.go:\d+`).ReplaceAllString(line, "logging_test.go"))
	}
	return strings.Join(out, "\n")
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--zap-log-level", "loud"},
		{"--zap-log-level", "0"},
		{"--zap-log-level", "-1"},
		{"--zap-encoder", "xml"},
		{"--zap-stacktrace-level", "debug"},
		{"--zap-time-encoding", "sundial"},
	} {
		var o Options
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(&bytes.Buffer{})
		o.BindFlags(fs)
		if err := fs.Parse(args); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
