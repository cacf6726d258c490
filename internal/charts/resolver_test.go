package charts

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
)

func TestInlineChartIsStandardBase64(t *testing.T) {
	archive := charttest.Package(t, "inline", "0.1.0", "", map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name | quote }}\n",
	})
	content := func(inline string) *fleetv1alpha1.PromiseContent {
		return &fleetv1alpha1.PromiseContent{Templates: &fleetv1alpha1.Templates{
			Engine: fleetv1alpha1.TemplateEngineHelm,
			Helm:   &fleetv1alpha1.HelmTemplate{Inline: inline},
		}}
	}
	resolver := &Resolver{}
	chart, err := resolver.Load(context.Background(), content(base64.StdEncoding.EncodeToString(archive)))
	if err != nil {
		t.Fatalf("loading the inline chart: %v", err)
	}
	if chart.Name() != "inline" || chart.Version() != "0.1.0" {
		t.Errorf("loaded %s %s", chart.Name(), chart.Version())
	}
	if _, err := resolver.Load(context.Background(), content("not base64!")); err == nil || !strings.Contains(err.Error(), "inline chart") {
		t.Errorf("a bad inline chart gave %v, want an error naming it", err)
	}
}
