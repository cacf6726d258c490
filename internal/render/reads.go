package render

import (
	"text/template/parse"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ReadsInstanceMetadata reports whether a Promise's templates may read the
// labels or annotations of the instance (.instance.metadata.labels and
// .annotations): an instance revision then snapshots them, so that a change
// of them rolls out as a change of the spec does. Only Go templates see
// them (a Helm chart gets the spec as its values).
//
// The answer errs on the side of yes: a template that may reach the
// instance's metadata map other than for its name or namespace reads them.
// That is a field chain through metadata to labels or annotations, or one
// that ends at metadata or instance (the map taken whole: index, dig,
// toYaml, range, a variable); the data itself (. where it is the data, or
// $) taken whole other than to pass it to include or template, whose
// bodies are judged the same way; or the names of those fields as strings
// (index, dig and get read maps by key). Templates that do not parse
// read them, as far as anyone can tell.
func ReadsInstanceMetadata(c *v1alpha1.PromiseContent) bool {
	t := c.Templates
	if t == nil || t.Engine == v1alpha1.TemplateEngineHelm {
		return false
	}
	root, err := parseGoTemplates(t.GoTemplates)
	if err != nil {
		return true
	}
	for _, t := range root.Templates() {
		if t.Tree != nil && readsMetadata(t.Root, true) {
			return true
		}
	}
	return false
}

// readsMetadata walks n; dotIsData says whether dot is (or may be) the whole
// template data there: at the top of a template or of a define, and in the
// else branch of a with or range there. Inside with and range, dot is what
// their pipeline gave, which reads metadata only if the pipeline does.
func readsMetadata(n parse.Node, dotIsData bool) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if readsMetadata(c, dotIsData) {
				return true
			}
		}
	case *parse.ActionNode:
		return pipeReads(n.Pipe, dotIsData)
	case *parse.IfNode:
		return pipeReads(n.Pipe, dotIsData) || readsMetadata(n.List, dotIsData) || readsMetadata(n.ElseList, dotIsData)
	case *parse.WithNode:
		return pipeReads(n.Pipe, dotIsData) || readsMetadata(n.List, false) || readsMetadata(n.ElseList, dotIsData)
	case *parse.RangeNode:
		return pipeReads(n.Pipe, dotIsData) || readsMetadata(n.List, false) || readsMetadata(n.ElseList, dotIsData)
	case *parse.TemplateNode:
		// The data passed whole is judged in the template's own body.
		if p := n.Pipe; p != nil && len(p.Decl) == 0 && len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 1 {
			return argReads(p.Cmds[0].Args[0], dotIsData, true)
		}
		return pipeReads(n.Pipe, dotIsData)
	}
	return false
}

// pipeReads reports whether a pipeline may read the instance's metadata.
func pipeReads(p *parse.PipeNode, dotIsData bool) bool {
	if p == nil {
		return false
	}
	for _, cmd := range p.Cmds {
		args := cmd.Args
		if len(args) > 0 {
			if id, ok := args[0].(*parse.IdentifierNode); ok && id.Ident == "include" && len(args) == 3 {
				// include NAME DATA: a NAME written out is a template's, not a
				// key; DATA passed whole is judged in that template's body.
				if !isString(args[1]) && argReads(args[1], dotIsData, false) || argReads(args[2], dotIsData, true) {
					return true
				}
				continue
			}
		}
		for _, a := range args {
			if argReads(a, dotIsData, false) {
				return true
			}
		}
	}
	return false
}

// argReads reports whether one argument may read the instance's metadata;
// passed says it is data passed to another template (allowed whole).
func argReads(n parse.Node, dotIsData, passed bool) bool {
	switch n := n.(type) {
	case *parse.DotNode:
		return dotIsData && !passed
	case *parse.VariableNode:
		if len(n.Ident) == 1 {
			return n.Ident[0] == "$" && !passed
		}
		return chainReads(n.Ident[1:])
	case *parse.FieldNode:
		return chainReads(n.Ident)
	case *parse.ChainNode:
		return chainReads(n.Field) || argReads(n.Node, dotIsData, false)
	case *parse.PipeNode:
		return pipeReads(n, dotIsData)
	case *parse.StringNode:
		switch n.Text {
		case "instance", "metadata", "labels", "annotations":
			return true
		}
	}
	return false
}

// chainReads reports whether a chain of field names reaches the instance's
// labels or annotations, or stops at a map that holds them.
func chainReads(fields []string) bool {
	for i, f := range fields {
		if f == "metadata" && i+1 < len(fields) && (fields[i+1] == "labels" || fields[i+1] == "annotations") {
			return true
		}
	}
	last := fields[len(fields)-1]
	return last == "metadata" || last == "instance"
}

func isString(n parse.Node) bool {
	_, ok := n.(*parse.StringNode)
	return ok
}
