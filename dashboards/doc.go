// Package dashboards holds revprober's Prometheus rules (revprober.rules.yml,
// tested by promtool with revprober-rules.test.yml) and Grafana dashboards
// (*.json). It has no code: its tests check that every metric and label the
// rules and dashboards use is one the code emits
// (internal/metrics/testdata/metrics.golden), that every alert links to its
// runbook section (docs/runbook.md) and that the dashboards have what
// Grafana needs.
package dashboards
