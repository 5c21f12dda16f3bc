package metrics

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/revprober/revprober/internal/verdict"
)

// The per-probe series are not metric vectors, and they do not go through
// the registry's Gather.
//
// Memory: a vector keeps, for every series, its own label pairs, hash and
// metric object (~490 bytes a series, 44 MB at 10,000 probes of 9 series).
// A probe here is one probeState of plain numbers, and its series are
// built at scrape time from label pairs that are shared: the probe's
// target pair by all its series, the pairs of the closed lists (result,
// reason, artifact), of the drivers and of the endpoint names by every
// probe. Removing a probe is deleting its state.
//
// Time: a registry's Gather checks every metric a collector sends (label
// names and values, a hash against duplicates) and sorts every family
// whose metrics arrive in no order: at 10,000 probes that was more than
// half of a scrape's CPU. The per-probe families are built here already
// sorted, from the probes kept in (endpoint, target) order, out of state
// whose label values were checked once, when the probe was declared (the
// registry reserves their names, so nothing else can be registered under
// them). Gatherer merges them with the registry's families.

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

func (st *probeState) endpoint() string { return st.labels[0].GetValue() }
func (st *probeState) target() string   { return st.labels[1].GetValue() }

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

// resultsByName are the indexes of verdict.Results in the order of their
// names (error, fail, pass): the order of the runs_total series of a
// probe.
var resultsByName = func() []int {
	idx := make([]int, len(verdict.Results))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(string(verdict.Results[a]), string(verdict.Results[b])) })
	return idx
}()

// probeFamily is a per-probe metric family: its name, help, type and the
// label names its series carry beyond endpoint and target.
type probeFamily struct {
	name, help string
	counter    bool
	extra      []string
}

// The per-probe families (the budget in the package comment).
var (
	famLastResult = probeFamily{name: "probe_last_result", extra: []string{"result", "reason"},
		help: "1, labeled by the result and reason of the last run of the probe (reason none for a pass). Absent until the first run."}
	famRuns = probeFamily{name: "runs_total", counter: true, extra: []string{"result"},
		help: "Runs of the probe, by result."}
	famConsecutiveErrors = probeFamily{name: "probe_consecutive_errors",
		help: "Number of runs in a row, up to the last one, that ended in error (no verdict); 0 after a pass or fail."}
	famInterval = probeFamily{name: "probe_interval_seconds", extra: []string{"driver"},
		help: "Configured interval between two runs of the probe, labeled by the probe's driver (joins a probe to the per-driver series)."}
	famLastRun = probeFamily{name: "last_run_timestamp_seconds",
		help: "Unix time the last run of the probe finished. Absent until the first run."}
	famLastSuccess = probeFamily{name: "last_success_timestamp_seconds",
		help: "Unix time the last passing run of the probe finished. Absent until the first pass."}
	famPropagation = probeFamily{name: "probe_propagation_seconds",
		help: "Time from the revoke request until the last artifact the endpoint promises to kill was seen dead, in the last run of the probe. Absent when that run measured none."}
	famResidual = probeFamily{name: "residual_validity_seconds",
		help: "For a JWT access token, the time left until its exp at the last run's revocation: how long a resource server that validates locally still accepts it."}
	famDrift = probeFamily{name: "probe_drift", extra: []string{"artifact"},
		help: "1 for each artifact the last run of the probe found dead although the endpoint is documented to leave it alive. Absent without drift."}

	probeFamilies = []*probeFamily{&famLastResult, &famRuns, &famConsecutiveErrors, &famInterval, &famLastRun,
		&famLastSuccess, &famPropagation, &famResidual, &famDrift}
)

func (f *probeFamily) fqName() string { return prometheus.BuildFQName(namespace, "", f.name) }

// probeReservation is registered for the per-probe families: its Describe
// reserves their names and label names in the registry (registering
// anything else under them fails, as for any collector), and it collects
// nothing: Gatherer adds the families.
type probeReservation struct{}

func (probeReservation) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range probeFamilies {
		ch <- prometheus.NewDesc(f.fqName(), f.help, append([]string{"target", "endpoint"}, f.extra...), nil)
	}
}

func (probeReservation) Collect(chan<- prometheus.Metric) {}

// Gatherer is what /metrics serves: the families of g, the registry m was
// registered on (with whatever else is registered there), and the
// per-probe families of m, in name order.
func (m *Metrics) Gatherer(g prometheus.Gatherer) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		probes := m.probeFamilies()
		out := make([]*dto.MetricFamily, 0, len(mfs)+len(probes))
		for len(mfs) > 0 || len(probes) > 0 {
			switch {
			case len(probes) == 0 || len(mfs) > 0 && mfs[0].GetName() < probes[0].GetName():
				out, mfs = append(out, mfs[0]), mfs[1:]
			case len(mfs) == 0 || probes[0].GetName() < mfs[0].GetName():
				out, probes = append(out, probes[0]), probes[1:]
			default:
				// The reservation makes this unreachable through a
				// registry; a gatherer of something else may collide.
				return nil, fmt.Errorf("metric family %s is both per-probe and gathered from the registry", mfs[0].GetName())
			}
		}
		return out, err
	})
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

// sortedProbes returns the probes in (endpoint, target) order, sorted again
// only after the set of probes changed (m.order is reset). m.mu must be
// held.
func (m *Metrics) sortedProbes() []*probeState {
	if m.order == nil {
		m.order = make([]*probeState, 0, len(m.probes))
		for _, st := range m.probes {
			m.order = append(m.order, st)
		}
		slices.SortFunc(m.order, func(a, b *probeState) int {
			return cmp.Or(strings.Compare(a.endpoint(), b.endpoint()), strings.Compare(a.target(), b.target()))
		})
	}
	return m.order
}

// familyBuilder cuts the series of a scrape from a few arrays sized up
// front, not allocated one by one: 10,000 probes are 90,000 series.
type familyBuilder struct {
	metrics  []dto.Metric
	gauges   []dto.Gauge
	counters []dto.Counter
	values   []float64
	labels   []*dto.LabelPair
}

func newFamilyBuilder(order []*probeState) *familyBuilder {
	var nGauges, nCounters, nLabels int
	for _, st := range order {
		g, l := st.extraSeries()
		nCounters += len(verdict.Results)
		nGauges += g
		nLabels += l
	}
	return &familyBuilder{
		metrics:  make([]dto.Metric, nGauges+nCounters),
		gauges:   make([]dto.Gauge, nGauges),
		counters: make([]dto.Counter, nCounters),
		values:   make([]float64, nGauges+nCounters),
		labels:   make([]*dto.LabelPair, 0, nLabels),
	}
}

// series returns a new series of v labeled by the probe's pairs and
// pairs, in label name order (artifact, driver < endpoint < reason,
// result < target).
func (b *familyBuilder) series(st *probeState, counter bool, v float64, pairs ...*dto.LabelPair) *dto.Metric {
	mt := &b.metrics[0]
	b.metrics = b.metrics[1:]
	val := &b.values[0]
	b.values = b.values[1:]
	*val = v
	if counter {
		mt.Counter = &b.counters[0]
		b.counters = b.counters[1:]
		mt.Counter.Value, mt.Counter.CreatedTimestamp = val, st.created
	} else {
		mt.Gauge = &b.gauges[0]
		b.gauges = b.gauges[1:]
		mt.Gauge.Value = val
	}
	if len(pairs) == 0 {
		mt.Label = st.labels[:]
		return mt
	}
	start := len(b.labels)
	for _, p := range pairs {
		if p.GetName() < "endpoint" {
			b.labels = append(b.labels, p)
		}
	}
	b.labels = append(b.labels, st.labels[0])
	for _, p := range pairs {
		if p.GetName() > "endpoint" {
			b.labels = append(b.labels, p)
		}
	}
	b.labels = append(b.labels, st.labels[1])
	mt.Label = b.labels[start:len(b.labels):len(b.labels)]
	return mt
}

// byEndpoint calls each with the runs of probes of one endpoint name, in
// order.
func byEndpoint(order []*probeState, each func([]*probeState)) {
	for len(order) > 0 {
		n := 1
		for n < len(order) && order[n].labels[0] == order[0].labels[0] {
			n++
		}
		each(order[:n])
		order = order[n:]
	}
}

// buckets splits probes (in order) by a key of theirs (none when has is
// false), and returns the keys in order with each key's probes, still in
// order.
func buckets[K comparable](probes []*probeState, key func(*probeState) (k K, has bool), compare func(a, b K) int) ([]K, map[K][]*probeState) {
	by := map[K][]*probeState{}
	var sorted []K
	for _, st := range probes {
		k, has := key(st)
		if !has {
			continue
		}
		if by[k] == nil {
			sorted = append(sorted, k)
		}
		by[k] = append(by[k], st)
	}
	slices.SortFunc(sorted, compare)
	return sorted, by
}

// artifactsByName are the artifacts in the order of their names: the
// order of the probe_drift series.
var artifactsByName = func() []verdict.Artifact {
	a := slices.Clone(verdict.Artifacts)
	slices.Sort(a)
	return a
}()

// probeFamilies builds the per-probe families, each in the order a
// registry would sort it (by label values, in label name order), under
// m.mu: the values are copied, and nothing a scrape returns is shared
// with a state a run may change after.
func (m *Metrics) probeFamilies() []*dto.MetricFamily {
	m.mu.Lock()
	defer m.mu.Unlock()
	order := m.sortedProbes()
	b := newFamilyBuilder(order)
	series := map[*probeFamily][]*dto.Metric{}
	add := func(f *probeFamily, mt *dto.Metric) { series[f] = append(series[f], mt) }

	// runs_total{endpoint, result, target}
	byEndpoint(order, func(probes []*probeState) {
		for _, i := range resultsByName {
			pair := m.pairs.get("result", string(verdict.Results[i]))
			for _, st := range probes {
				add(&famRuns, b.series(st, true, st.runs[i], pair))
			}
		}
	})
	// probe_interval_seconds{driver, endpoint, target}
	drivers, byDriver := buckets(order, func(st *probeState) (string, bool) { return st.driver, st.hasInterval }, strings.Compare)
	for _, d := range drivers {
		pair := m.pairs.get("driver", d)
		for _, st := range byDriver[d] {
			add(&famInterval, b.series(st, false, st.interval, pair))
		}
	}
	// probe_last_result{endpoint, reason, result, target}
	byEndpoint(order, func(probes []*probeState) {
		type last struct {
			reason verdict.Reason
			result verdict.Result
		}
		keys, byKey := buckets(probes, func(st *probeState) (last, bool) { return last{st.reason, st.result}, st.result != "" },
			func(a, b last) int { return cmp.Or(cmp.Compare(a.reason, b.reason), cmp.Compare(a.result, b.result)) })
		for _, k := range keys {
			reason, result := m.pairs.get("reason", string(k.reason)), m.pairs.get("result", string(k.result))
			for _, st := range byKey[k] {
				add(&famLastResult, b.series(st, false, 1, reason, result))
			}
		}
	})
	// probe_drift{artifact, endpoint, target}
	// (st.drift holds artifacts of the closed list only.)
	for _, a := range artifactsByName {
		pair := m.pairs.get("artifact", string(a))
		for _, st := range order {
			if slices.Contains(st.drift, a) {
				add(&famDrift, b.series(st, false, 1, pair))
			}
		}
	}
	// The families of {endpoint, target} alone.
	for _, st := range order {
		add(&famConsecutiveErrors, b.series(st, false, st.consecutiveErrors))
		for _, g := range []struct {
			f   *probeFamily
			v   float64
			has bool
		}{
			{&famLastRun, st.lastRun, st.hasLastRun},
			{&famLastSuccess, st.lastSuccess, st.hasLastSuccess},
			{&famPropagation, st.propagation, st.hasPropagation},
			{&famResidual, st.residual, st.hasResidual},
		} {
			if g.has {
				add(g.f, b.series(st, false, g.v))
			}
		}
	}

	mfs := make([]*dto.MetricFamily, 0, len(series))
	for _, f := range probeFamilies {
		if len(series[f]) == 0 {
			continue // as a registry leaves out a family without series
		}
		typ := dto.MetricType_GAUGE
		if f.counter {
			typ = dto.MetricType_COUNTER
		}
		mfs = append(mfs, &dto.MetricFamily{Name: proto.String(f.fqName()), Help: proto.String(f.help), Type: typ.Enum(), Metric: series[f]})
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs
}

// extraSeries counts what probeFamilies builds for the probe, but its
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
