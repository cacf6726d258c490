package docs

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// canI is one `kubectl auth can-i` line of a page and the answer it claims.
type canI struct {
	line                                          string
	user                                          string
	groups                                        []string
	verb, group, resource, subresource, namespace string
	want                                          bool
}

var canILine = regexp.MustCompile(`^kubectl auth can-i\s+(.*?)\s*(?:#\s*(\S+)\s*)?$`)

// parseCanI reads every line of doc that starts with `kubectl auth can-i`.
// Each must end in `# yes` or `# no` and use only flags this parser knows,
// so that no claim of the page goes unchecked.
func parseCanI(doc string) ([]canI, error) {
	var out []canI
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "kubectl auth can-i") {
			continue
		}
		m := canILine.FindStringSubmatch(line)
		if m == nil || (m[2] != "yes" && m[2] != "no") {
			return nil, fmt.Errorf("%q: end the line with # yes or # no", line)
		}
		c := canI{line: line, want: m[2] == "yes"}
		var positional []string
		args := strings.Fields(m[1])
		for i := 0; i < len(args); i++ {
			arg := args[i]
			if !strings.HasPrefix(arg, "-") {
				positional = append(positional, arg)
				continue
			}
			name, value, hasValue := strings.Cut(arg, "=")
			if !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("%q: %s needs a value", line, name)
				}
				i++
				value = args[i]
			}
			switch name {
			case "-n", "--namespace":
				c.namespace = value
			case "--as":
				c.user = value
			case "--as-group":
				c.groups = append(c.groups, value)
			case "--subresource":
				c.subresource = value
			default:
				return nil, fmt.Errorf("%q: flag %s is not understood by the docs test", line, name)
			}
		}
		if len(positional) != 2 || strings.Contains(positional[1], "/") {
			return nil, fmt.Errorf("%q: want VERB RESOURCE[.GROUP]", line)
		}
		c.verb = positional[0]
		c.resource, c.group, _ = strings.Cut(positional[1], ".")
		if c.user == "" {
			return nil, fmt.Errorf("%q: say whose rights (--as)", line)
		}
		// Impersonation adds this group to every authenticated user.
		c.groups = append(c.groups, "system:authenticated")
		out = append(out, c)
	}
	return out, nil
}

func TestParseCanI(t *testing.T) {
	got, err := parseCanI("text\n" +
		"kubectl auth can-i patch rollouts.fleet.flotilla.dev -n team-a --as alice --as-group team-a   # yes\n" +
		"  kubectl auth can-i update databases.platform.example.com --subresource=status --namespace=team-a --as=bob  # no\n" +
		"kubectl auth can-i list secrets --as carol # no\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []canI{
		{user: "alice", groups: []string{"team-a", "system:authenticated"}, verb: "patch", group: "fleet.flotilla.dev", resource: "rollouts", namespace: "team-a", want: true},
		{user: "bob", groups: []string{"system:authenticated"}, verb: "update", group: "platform.example.com", resource: "databases", subresource: "status", namespace: "team-a"},
		{user: "carol", groups: []string{"system:authenticated"}, verb: "list", resource: "secrets"},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d lines, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.user != w.user || strings.Join(g.groups, ",") != strings.Join(w.groups, ",") || g.verb != w.verb || g.group != w.group ||
			g.resource != w.resource || g.subresource != w.subresource || g.namespace != w.namespace || g.want != w.want {
			t.Errorf("line %d: %+v, want %+v", i, g, w)
		}
	}
	for _, bad := range []string{
		"kubectl auth can-i patch rollouts -n team-a --as alice",
		"kubectl auth can-i patch rollouts -n team-a --as alice # maybe",
		"kubectl auth can-i patch rollouts --all-namespaces --as alice # no",
		"kubectl auth can-i patch rollouts/web --as alice # no",
		"kubectl auth can-i patch rollouts -n team-a # no",
	} {
		if _, err := parseCanI(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// checkCanILines asks the API server's RBAC authorizer every `kubectl auth
// can-i` line of page, and fails on each whose answer is not the one the
// page gives. It returns how many lines it checked.
func checkCanILines(ctx context.Context, t *testing.T, c client.Client, page string) int {
	t.Helper()
	doc, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := parseCanI(string(doc))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	for _, l := range lines {
		attrs := authorizationv1.ResourceAttributes{Verb: l.verb, Group: l.group, Resource: l.resource, Subresource: l.subresource, Namespace: l.namespace}
		var allowed bool
		// RBAC just created may take a moment to reach the authorizer.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: l.user, Groups: l.groups, ResourceAttributes: &attrs,
			}}
			if err := c.Create(ctx, sar); err != nil {
				t.Fatalf("reviewing %q: %v", l.line, err)
			}
			allowed = sar.Status.Allowed
			if allowed || !l.want || time.Now().After(deadline) {
				break
			}
		}
		if allowed != l.want {
			t.Errorf("%s: %q answers %v", page, l.line, allowed)
		}
	}
	return len(lines)
}
