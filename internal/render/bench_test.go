package render

import "testing"

// The render benchmarks report instances/s: one instance rendered for one
// cluster per iteration. docs/benchmarks.md records the figures.

func BenchmarkRenderGoTemplate(b *testing.B) {
	benchmarkRender(b, "testdata/postgres")
}

func BenchmarkRenderGoTemplateWithOverrides(b *testing.B) {
	benchmarkRender(b, "testdata/override-strategicmerge")
}

func BenchmarkRenderHelm(b *testing.B) {
	benchmarkRender(b, "testdata/helm-webapp")
}

func benchmarkRender(b *testing.B, dir string) {
	in := loadCase(b, dir)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
}

// BenchmarkRenderHelmSpecialCharacters renders helm-webapp with an instance
// string holding characters that can make YAML structure, so the chart is
// rendered a second time to check it (docs/templates.md).
func BenchmarkRenderHelmSpecialCharacters(b *testing.B) {
	in := loadCase(b, "testdata/helm-webapp")
	in.Instance = in.Instance.DeepCopy()
	in.Instance.Object["spec"].(map[string]any)["config"] = map[string]any{"greeting": "hello, world: 1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
}
