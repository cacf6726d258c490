// Package docs holds the tests that keep docs/ true: the generated reference
// pages match the commands and the CRDs, every condition reason is
// documented, every YAML example is accepted by a real API server, the RBAC
// of the per-team how-to does what it says, relative links resolve, and
// every how-to runs, as a story, on a dev fleet (TestRunDocs).
package docs

// docsDir is docs/, from this package.
const docsDir = "../../docs"
