// Package dashboards holds revprober's Prometheus rules (revprober.rules.yml,
// tested by promtool with revprober-rules.test.yml) and Grafana dashboards
// (*.json). It has no code: its tests check that every metric and label the
// rules and dashboards use is one the code emits
// (internal/metrics/testdata/metrics.golden), that every alert links to its
// runbook section (docs/runbook.md) and that the dashboards have what
// Grafana needs and filter every scraped series by $job and $instance.
// make test-dashboards runs grafana/dashboard-linter --strict on them; .lint
// excludes single queries, each with a reason (checked here too).
package dashboards
