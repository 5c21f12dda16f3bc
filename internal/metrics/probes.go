package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/revprober/revprober/internal/verdict"
)

// The per-probe series are not metric vectors: a vector keeps, for every
// series, its own label pairs, hash and metric object (~490 bytes a series,
// 44 MB at 10,000 probes of 9 series). A probe here is one probeState of
// plain numbers, and its series are built on Collect from label pairs that
// are shared: the probe's target pair by all its series, the pairs of the
// closed lists (result, reason, artifact), of the drivers and of the
// endpoint names by every probe. Removing a probe is deleting its state.

// probeState is what a probe's series say; a series whose state is empty
// or unset is absent.
type probeState struct {
	// driver and interval are the probe_interval_seconds series, which
	// SetProbes creates (hasInterval).
	driver      string
	interval    float64
	hasInterval bool
	// result and reason label the probe's one probe_last_result series
	// (empty before the first run).
	result verdict.Result
	reason verdict.Reason
	// runs are runs_total by result, in verdict.Results order.
	runs              [3]float64
	consecutiveErrors float64
	// The gauges below are absent until a run sets them (has*).
	lastRun, lastSuccess, propagation, residual             float64
	hasLastRun, hasLastSuccess, hasPropagation, hasResidual bool
	// drift are the artifacts of the probe's probe_drift series.
	drift []verdict.Artifact
	// created is when the probe's counters started (the created timestamp
	// a vector's counter exposes).
	created *timestamppb.Timestamp
	// labels are the probe's endpoint and target pairs, in that (sorted)
	// order, shared by all its series. The endpoint pair is shared with
	// every probe of the same endpoint name, the target pair is the
	// probe's own.
	labels [2]*dto.LabelPair
}

// Each probe's runs_total series are created at zero for every result
// (increase() sees the very first failure): the array must fit them.
func init() {
	if len(verdict.Results) > len(probeState{}.runs) {
		panic("metrics: probeState.runs is shorter than verdict.Results")
	}
}

func resultIndex(r verdict.Result) int {
	for i, x := range verdict.Results {
		if x == r {
			return i
		}
	}
	return -1
}

// probeDescs are the per-probe metric families (the budget in the package
// comment), with their HELP and label names.
type probeDescs struct {
	lastResult, runs, consecutiveErrors, interval, lastRun, lastSuccess, propagation, residual, drift *prometheus.Desc
}

func newProbeDescs() probeDescs {
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, append([]string{"target", "endpoint"}, extra...), nil)
	}
	return probeDescs{
		lastResult: desc("probe_last_result",
			"1, labeled by the result and reason of the last run of the probe (reason none for a pass). Absent until the first run.", "result", "reason"),
		runs: desc("runs_total",
			"Runs of the probe, by result.", "result"),
		consecutiveErrors: desc("probe_consecutive_errors",
			"Number of runs in a row, up to the last one, that ended in error (no verdict); 0 after a pass or fail."),
		interval: desc("probe_interval_seconds",
			"Configured interval between two runs of the probe, labeled by the probe's driver (joins a probe to the per-driver series).", "driver"),
		lastRun: desc("last_run_timestamp_seconds",
			"Unix time the last run of the probe finished. Absent until the first run."),
		lastSuccess: desc("last_success_timestamp_seconds",
			"Unix time the last passing run of the probe finished. Absent until the first pass."),
		propagation: desc("probe_propagation_seconds",
			"Time from the revoke request until the last artifact the endpoint promises to kill was seen dead, in the last run of the probe. Absent when that run measured none."),
		residual: desc("residual_validity_seconds",
			"For a JWT access token, the time left until its exp at the last run's revocation: how long a resource server that validates locally still accepts it."),
		drift: desc("probe_drift",
			"1 for each artifact the last run of the probe found dead although the endpoint is documented to leave it alive. Absent without drift.", "artifact"),
	}
}

// labelPairs interns label pairs: one *dto.LabelPair per (name, value),
// shared by every series that carries it. Its values come from closed
// lists and from the driver and endpoint names configured, so it stays
// small. Not safe for concurrent use: Metrics calls it with m.mu held.
type labelPairs map[[2]string]*dto.LabelPair

func (l labelPairs) get(name, value string) *dto.LabelPair {
	k := [2]string{name, value}
	p := l[k]
	if p == nil {
		p = &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
		l[k] = p
	}
	return p
}

// targetName is the name of every target label pair.
var targetName = proto.String("target")

// probeSample is one series of a probe, built on Collect. Its label pairs
// are shared and never modified; its value (gauge or counter) is its own.
type probeSample struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	gauge   *dto.Gauge
	counter *dto.Counter
	value   float64
}

func (s *probeSample) Desc() *prometheus.Desc { return s.desc }

func (s *probeSample) Write(out *dto.Metric) error {
	out.Label, out.Gauge, out.Counter = s.labels, s.gauge, s.counter
	return nil
}

// probeCollector exports the per-probe series of m.
type probeCollector struct{ m *Metrics }

func (c probeCollector) Describe(ch chan<- *prometheus.Desc) {
	d := c.m.probeDescs
	for _, x := range []*prometheus.Desc{d.lastResult, d.runs, d.consecutiveErrors, d.interval, d.lastRun, d.lastSuccess, d.propagation, d.residual, d.drift} {
		ch <- x
	}
}

// Collect builds every per-probe series under m.mu and sends them once the
// lock is released: a scrape does not hold up the runs that finish while
// Prometheus reads it.
func (c probeCollector) Collect(ch chan<- prometheus.Metric) {
	samples := c.m.probeSamples()
	for i := range samples {
		ch <- &samples[i]
	}
}

// probeSamples returns the series of every probe. A scrape of 10,000
// probes builds 90,000 of them: they, their values and their label slices
// are cut from a few arrays, not allocated one by one.
func (m *Metrics) probeSamples() []probeSample {
	d := m.probeDescs
	m.mu.Lock()
	defer m.mu.Unlock()
	var nGauges, nCounters, nLabels int
	for _, st := range m.probes {
		g, l := st.extraSeries()
		nCounters += len(verdict.Results)
		nGauges += g
		nLabels += l
	}
	samples := make([]probeSample, nGauges+nCounters)
	gauges := make([]dto.Gauge, nGauges)
	counters := make([]dto.Counter, nCounters)
	labels := make([]*dto.LabelPair, 0, nLabels)
	n := 0
	add := func(desc *prometheus.Desc, l []*dto.LabelPair, v float64) *probeSample {
		s := &samples[n]
		n++
		s.desc, s.labels, s.value = desc, l, v
		return s
	}
	gauge := func(desc *prometheus.Desc, l []*dto.LabelPair, v float64) {
		s := add(desc, l, v)
		s.gauge = &gauges[0]
		gauges = gauges[1:]
		s.gauge.Value = &s.value
	}
	// with is the probe's pairs and more, in sorted label name order
	// (artifact, driver < endpoint < reason, result < target).
	with := func(st *probeState, pairs ...*dto.LabelPair) []*dto.LabelPair {
		start := len(labels)
		for _, p := range pairs {
			if p.GetName() < "endpoint" {
				labels = append(labels, p)
			}
		}
		labels = append(labels, st.labels[0])
		for _, p := range pairs {
			if p.GetName() > "endpoint" {
				labels = append(labels, p)
			}
		}
		labels = append(labels, st.labels[1])
		return labels[start:len(labels):len(labels)]
	}
	for _, st := range m.probes {
		for i, r := range verdict.Results {
			s := add(d.runs, with(st, m.pairs.get("result", string(r))), st.runs[i])
			s.counter = &counters[0]
			counters = counters[1:]
			s.counter.Value, s.counter.CreatedTimestamp = &s.value, st.created
		}
		gauge(d.consecutiveErrors, st.labels[:], st.consecutiveErrors)
		if st.hasInterval {
			gauge(d.interval, with(st, m.pairs.get("driver", st.driver)), st.interval)
		}
		if st.result != "" {
			gauge(d.lastResult, with(st, m.pairs.get("reason", string(st.reason)), m.pairs.get("result", string(st.result))), 1)
		}
		if st.hasLastRun {
			gauge(d.lastRun, st.labels[:], st.lastRun)
		}
		if st.hasLastSuccess {
			gauge(d.lastSuccess, st.labels[:], st.lastSuccess)
		}
		if st.hasPropagation {
			gauge(d.propagation, st.labels[:], st.propagation)
		}
		if st.hasResidual {
			gauge(d.residual, st.labels[:], st.residual)
		}
		for _, a := range st.drift {
			gauge(d.drift, with(st, m.pairs.get("artifact", string(a))), 1)
		}
	}
	return samples
}

// extraSeries counts what probeSamples builds for the probe, but its
// runs_total counters: gauges, and label pairs of the series with more
// than the probe's two.
func (st *probeState) extraSeries() (gauges, labels int) {
	labels = 3 * len(verdict.Results)
	gauges = 1 + len(st.drift)
	labels += 3 * len(st.drift)
	for _, has := range []bool{st.hasLastRun, st.hasLastSuccess, st.hasPropagation, st.hasResidual} {
		if has {
			gauges++
		}
	}
	if st.hasInterval {
		gauges++
		labels += 3
	}
	if st.result != "" {
		gauges++
		labels += 4
	}
	return gauges, labels
}

// newProbeState is the state of a probe that has not run yet: its
// runs_total and consecutive_errors series exist, at zero.
// created is the counters' created timestamp, shared by the probes of
// one config load. pairs must be guarded by the caller.
func newProbeState(id probeID, created *timestamppb.Timestamp, pairs labelPairs) *probeState {
	return &probeState{created: created, labels: [2]*dto.LabelPair{
		pairs.get("endpoint", id.endpoint),
		{Name: targetName, Value: proto.String(id.target)},
	}}
}
