// Package metrics exports revprober's Prometheus metrics.
//
// Every label value comes from a closed list (verdict.Results, the reasons,
// verdict.Steps, verdict.Checks, verdict.Artifacts, SkipReasons) or from the
// operator's config (target and endpoint names). Nothing here ever turns an
// error string, a token, a user id or a run's detail into a label value: a
// reason, step, check or artifact that is not in its closed list is mapped
// to internal_error or dropped.
//
// The series budget. What one probe costs is what one replica of 10,000
// probes multiplies, and a scrape of that replica must fit well inside
// Prometheus' default 10 s timeout. So a probe has 9 series once it has
// passed (10 with a JWT access token), and nothing per probe grows with the
// closed lists:
//
//   - probe_last_result{result,reason}: ONE series, 1, the last run's result
//     and reason (absent until the first run);
//   - runs_total{result}: pass, fail, error, created at zero when the config
//     loads, so increase() sees the very first failure;
//   - probe_consecutive_errors, probe_interval_seconds{driver} (the driver
//     label joins a probe to the per-driver series), created at load;
//   - last_run_timestamp_seconds, last_success_timestamp_seconds,
//     probe_propagation_seconds (the last run's propagation latency) and
//     residual_validity_seconds, absent until a run sets them: absent means
//     "never ran" (or "not measured"), not "failed";
//   - probe_drift{artifact}: 1 per artifact the last run found dead against
//     the expectation profile, absent otherwise (no series without drift).
//
// Distributions and counts by reason are per driver (a closed list), so
// they do not grow with the probes: failures_total{driver,result,reason},
// propagation_seconds{driver}, check_propagation_seconds{driver,check},
// step_duration_seconds{driver,step}, drift_total{driver,artifact}. Skips
// and the schedule lag are per replica. A run's own reason, step and check
// timings are in its record (status page, evidence).
//
// The metric names, their types and label names are listed in
// testdata/metrics.golden; the alert rules and dashboards in dashboards/ are
// tested against that file.
package metrics

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/revprober/revprober/internal/verdict"
)

const namespace = "revprober"

// Buckets. Few on purpose: every bucket is one series per driver, per
// step, per check.
var (
	// PropagationBuckets span 50 ms to 30 min (Entra revokes "within
	// minutes"; its example deadline is 15 min). 30 s, the default SLO
	// (revprober:propagation_slo_seconds), is a boundary.
	PropagationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800}
	// CheckBuckets, per check, are coarser: they say which check is the
	// slow one.
	CheckBuckets = []float64{0.1, 1, 5, 30, 300, 1800}
	// StepBuckets span 50 ms to 5 min (the verify step lasts up to the
	// propagation deadline).
	StepBuckets = []float64{0.05, 0.25, 1, 5, 30, 300}
	// LagBuckets span 1 ms to 10 s: a replica that keeps up starts its runs
	// within milliseconds of their tick; 100 ms (the ScheduleLagHigh alert)
	// is a boundary.
	LagBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}
)

// SkipReason says why a scheduled run did not happen. It is a label value.
type SkipReason string

// Skip reasons, the closed list of revprober_runs_skipped_total.
const (
	SkipOverlap          SkipReason = "overlap"           // the previous run of the probe was still running
	SkipCanaryBusy       SkipReason = "canary_busy"       // another probe held the canary
	SkipNotLeader        SkipReason = "not_leader"        // another replica owns the probe
	SkipCoordinationDown SkipReason = "coordination_down" // the coordination backend is unreachable
)

// SkipReasons lists every skip reason.
var SkipReasons = []SkipReason{SkipOverlap, SkipCanaryBusy, SkipNotLeader, SkipCoordinationDown}

// Coordination backends, the closed list of revprober_coordination_up's
// backend label.
const (
	BackendNone       = "none"
	BackendRedis      = "redis"
	BackendKubernetes = "kubernetes"
)

// Backends lists every coordination backend.
var Backends = []string{BackendNone, BackendRedis, BackendKubernetes}

// BuildInfo is exported as revprober_build_info.
type BuildInfo struct {
	Version  string
	Revision string
}

// ProbeKey identifies one configured probe (target × endpoint).
type ProbeKey struct {
	Target   string
	Endpoint string
	Driver   string // the driver kind: the label of the per-driver series
	Interval time.Duration
	// Checks are the checks the probe makes; their per-driver latency
	// series are created at zero. Nil means every check.
	Checks []verdict.Check
}

type probeID struct{ target, endpoint string }

// Metrics holds every revprober metric. Its methods are safe for
// concurrent use.
type Metrics struct {
	now func() time.Time

	// Per driver.
	failures         *prometheus.CounterVec
	propagation      *prometheus.HistogramVec
	checkPropagation *prometheus.HistogramVec
	stepDuration     *prometheus.HistogramVec
	drift            *prometheus.CounterVec

	// Per replica.
	skipped          *prometheus.CounterVec
	scheduleLag      prometheus.Histogram
	buildInfo        *prometheus.GaugeVec
	reloadSuccessful prometheus.Gauge
	reloadTimestamp  prometheus.Gauge
	coordinationUp   *prometheus.GaugeVec
	// The evidence log's head and write errors: no labels, absent when
	// no evidence log is configured.
	evidenceLastSeq     *prometheus.GaugeVec
	evidenceWriteErrors *prometheus.CounterVec
	evidenceWritable    *prometheus.GaugeVec
	// refused counts requests the HTTP server refused (refused.go).
	refused *prometheus.CounterVec

	mu sync.Mutex
	// probes are the configured probes, and the probes observed before
	// SetProbes knew them (a run that starts right after a reload).
	probes map[probeID]*probeState
	// order is m.probes sorted by (endpoint, target), nil when it must be
	// sorted again (probes.go).
	order []*probeState
	// removed are the probes the last SetProbes deleted: a run still in
	// flight at that reload must not bring their series back.
	removed map[probeID]bool
	// drivers are the drivers in use and the checks their probes make
	// (the per-driver series).
	drivers map[string]map[verdict.Check]bool
	// pairs are the shared label pairs of the per-probe series.
	pairs labelPairs
}

// unknownDriver labels the per-driver series of a run whose probe's driver
// is not configured (a run observed before SetProbes): the label value
// stays in a closed list.
const unknownDriver = "unknown"

// New creates the metrics and registers them on reg (never the global
// registry; a nil reg gets a private registry, useful in one-shot mode).
// The per-probe series are not collected by reg: serve m.Gatherer(reg).
func New(reg prometheus.Registerer, build BuildInfo) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
		// Classic buckets only: no NativeHistogram* options (Prometheus 2.42
		// with native histograms enabled would drop the classic buckets).
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &Metrics{
		now: time.Now,

		failures: counter("failures_total",
			"Runs that did not pass, over every probe of a driver, by result (fail or error) and reason.", []string{"driver", "result", "reason"}),
		propagation: histogram("propagation_seconds",
			"Time from the revoke request until the last artifact the endpoint promises to kill was seen dead, over every probe of a driver.", PropagationBuckets, []string{"driver"}),
		checkPropagation: histogram("check_propagation_seconds",
			"Time from the revoke request until a check first saw its artifact dead, over every probe of a driver.", CheckBuckets, []string{"driver", "check"}),
		stepDuration: histogram("step_duration_seconds",
			"Duration of each step of a run, over every probe of a driver.", StepBuckets, []string{"driver", "step"}),
		drift: counter("drift_total",
			"Runs that found an artifact dead that the endpoint is documented to leave alive, over every probe of a driver, by artifact.", []string{"driver", "artifact"}),

		skipped: counter("runs_skipped_total",
			"Scheduled runs of this replica that did not happen, by reason.", []string{"reason"}),
		scheduleLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "schedule_lag_seconds",
			Help: "Time from a run's planned tick to its start: it grows when the replica is overloaded.", Buckets: LagBuckets}),
		buildInfo: gauge("build_info",
			"A metric with a constant '1' value labeled by the version and revision revprober was built from, and the Go version.",
			[]string{"version", "revision", "goversion"}),
		reloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or not (0)."}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load or reload."}),
		coordinationUp: gauge("coordination_up",
			"Whether this replica probes through its coordination backend (1) or skips ticks as coordination_down (0: the backend is unreachable, or its data is new and probes wait until runs of before can have ended).", []string{"backend"}),
		evidenceLastSeq: gauge("evidence_last_seq",
			"Seq of the last record of this replica's evidence chain (its head). It only grows while the chain is intact: a drop means records were cut or the log was started afresh. Absent without an evidence log.", nil),
		evidenceWriteErrors: counter("evidence_write_errors_total",
			"Runs whose evidence record could not be written. Absent without an evidence log.", nil),
		evidenceWritable: gauge("evidence_writable",
			"Whether the evidence disk takes records (1) or refused the last one (0: full, read-only); back to 1 when a records_lost notice for the refused records is in the chain. Absent without an evidence log.", nil),

		refused: newRefused(),

		probes:  map[probeID]*probeState{},
		removed: map[probeID]bool{},
		drivers: map[string]map[verdict.Check]bool{},
		pairs:   labelPairs{},
	}
	reg.MustRegister(probeReservation{},
		m.failures, m.propagation, m.checkPropagation, m.stepDuration, m.drift,
		m.skipped, m.scheduleLag, m.buildInfo, m.reloadSuccessful, m.reloadTimestamp, m.coordinationUp,
		m.evidenceLastSeq, m.evidenceWriteErrors, m.evidenceWritable, m.refused)

	m.buildInfo.WithLabelValues(orUnknown(build.Version), orUnknown(build.Revision), runtime.Version()).Set(1)
	for _, r := range SkipReasons {
		m.skipped.WithLabelValues(string(r))
	}
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// failureSeries are the (result, reason) pairs of revprober_failures_total:
// every fail reason with result=fail, every error reason with result=error,
// and fail/internal_error, where a fail whose reason is not a fail reason
// is counted (a fail is never hidden, even when its reason is a bug).
func failureSeries() [][2]string {
	s := make([][2]string, 0, len(verdict.FailReasons)+len(verdict.ErrorReasons)+1)
	for _, r := range verdict.FailReasons {
		s = append(s, [2]string{string(verdict.Fail), string(r)})
	}
	s = append(s, [2]string{string(verdict.Fail), string(verdict.InternalError)})
	for _, r := range verdict.ErrorReasons {
		s = append(s, [2]string{string(verdict.Error), string(r)})
	}
	return s
}

// SetProbes declares the configured probes, at config load and reload: it
// creates the series of every new probe at zero, sets the interval gauge,
// and deletes every series of the probes no longer configured.
func (m *Metrics) SetProbes(keys []ProbeKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := make(map[probeID]*probeState, len(keys))
	// The counters of the probes this load creates start now, together.
	var created *timestamppb.Timestamp
	drivers := map[string]map[verdict.Check]bool{}
	for _, k := range keys {
		id := probeID{k.Target, k.Endpoint}
		st := m.probes[id]
		if st == nil {
			if created == nil {
				created = timestamppb.New(m.now())
			}
			st = newProbeState(id, created, m.pairs)
		}
		st.driver, st.interval, st.hasInterval = k.Driver, k.Interval.Seconds(), true
		want[id] = st
		if drivers[k.Driver] == nil {
			drivers[k.Driver] = map[verdict.Check]bool{}
		}
		for _, c := range orAllChecks(k.Checks) {
			if contains(verdict.Checks, c) {
				drivers[k.Driver][c] = true
			}
		}
	}
	removed := map[probeID]bool{}
	for id := range m.probes {
		if want[id] == nil {
			removed[id] = true
		}
	}
	m.probes, m.removed, m.order = want, removed, nil
	m.setDrivers(drivers)
}

// setDrivers creates the per-driver series of the drivers (and checks) in
// use and deletes those of drivers and checks no longer used. m.mu must be
// held.
func (m *Metrics) setDrivers(drivers map[string]map[verdict.Check]bool) {
	for d, checks := range drivers {
		m.initDriver(d)
		for c := range checks {
			m.checkPropagation.WithLabelValues(d, string(c))
		}
	}
	for d, checks := range m.drivers {
		for c := range checks {
			if !drivers[d][c] {
				m.checkPropagation.DeleteLabelValues(d, string(c))
			}
		}
		if drivers[d] == nil {
			m.deleteDriver(d)
		}
	}
	m.drivers = drivers
}

// initDriver creates the per-driver series of a driver at zero, but its
// per-check ones (those depend on the checks its probes make).
func (m *Metrics) initDriver(d string) {
	m.driverSeries(d, func(v *prometheus.MetricVec, lvs ...string) { _, _ = v.GetMetricWithLabelValues(lvs...) })
}

// deleteDriver deletes the per-driver series of a driver no longer used,
// but its per-check ones.
func (m *Metrics) deleteDriver(d string) {
	m.driverSeries(d, func(v *prometheus.MetricVec, lvs ...string) { v.DeleteLabelValues(lvs...) })
}

// driverSeries calls each with every per-driver series of d, but the
// per-check ones.
func (m *Metrics) driverSeries(d string, each func(v *prometheus.MetricVec, lvs ...string)) {
	for _, s := range verdict.Steps {
		each(m.stepDuration.MetricVec, d, s)
	}
	for _, s := range failureSeries() {
		each(m.failures.MetricVec, d, s[0], s[1])
	}
	each(m.propagation.MetricVec, d)
	for _, a := range verdict.Artifacts {
		each(m.drift.MetricVec, d, string(a))
	}
}

// orAllChecks is checks, or every check when nil.
func orAllChecks(checks []verdict.Check) []verdict.Check {
	if checks == nil {
		return verdict.Checks
	}
	return checks
}

// admit returns the state of a probe whose series may be written, creating
// them for a probe SetProbes does not know yet (a run recorded between the
// scheduler's reload and SetProbes, or one-shot mode without SetProbes).
// A probe removed by the last SetProbes is refused (nil): its in-flight run
// must not bring back series that would never be updated again.
// m.mu must be held.
func (m *Metrics) admit(id probeID) *probeState {
	if st := m.probes[id]; st != nil {
		return st
	}
	if m.removed[id] {
		return nil
	}
	st := newProbeState(id, timestamppb.New(m.now()), m.pairs)
	m.probes[id] = st
	m.order = nil
	return st
}

// Normalize returns the result and reason a run is counted under: a result
// outside verdict.Results is an error; a fail's reason must be a fail
// reason and an error's an error reason, anything else (a typo, an empty
// reason, a reason built from an error string) is internal_error. A pass
// has reason none.
func Normalize(result verdict.Result, reason verdict.Reason) (verdict.Result, verdict.Reason) {
	switch result {
	case verdict.Pass:
		return verdict.Pass, verdict.ReasonNone
	case verdict.Fail:
		if contains(verdict.FailReasons, reason) {
			return verdict.Fail, reason
		}
		return verdict.Fail, verdict.InternalError
	case verdict.Error:
		if contains(verdict.ErrorReasons, reason) {
			return verdict.Error, reason
		}
		return verdict.Error, verdict.InternalError
	default:
		return verdict.Error, verdict.InternalError
	}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Observe records a finished run: the last-run gauges, the counters and
// the histograms. A nil run is ignored.
func (m *Metrics) Observe(r *verdict.Run) {
	if r == nil {
		return
	}
	id := probeID{r.Target, r.Endpoint}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.admit(id)
	if st == nil {
		return
	}
	result, reason := Normalize(r.Result, r.Reason)

	finished := r.Started.Add(r.Duration)
	if r.Started.IsZero() {
		finished = m.now()
	}
	ts := float64(finished.UnixNano()) / 1e9

	driver := st.driver
	if _, ok := m.drivers[driver]; !ok || driver == "" {
		// Listed in m.drivers so that the next SetProbes deletes them.
		driver = unknownDriver
		if m.drivers[driver] == nil {
			m.drivers[driver] = map[verdict.Check]bool{}
			m.initDriver(driver)
		}
	}

	st.runs[resultIndex(result)]++
	st.result, st.reason = result, reason
	st.lastRun, st.hasLastRun = ts, true
	if result == verdict.Pass {
		st.lastSuccess, st.hasLastSuccess = ts, true
		st.consecutiveErrors = 0
	} else {
		m.failures.WithLabelValues(driver, string(result), string(reason)).Inc()
		if result == verdict.Error {
			st.consecutiveErrors++
		} else {
			st.consecutiveErrors = 0
		}
	}

	for _, s := range r.Steps {
		if contains(verdict.Steps, s.Name) && s.Duration >= 0 {
			m.stepDuration.WithLabelValues(driver, s.Name).Observe(s.Duration.Seconds())
		}
	}
	st.hasPropagation = false
	if p := r.PropagationSeconds; p != nil && *p >= 0 {
		m.propagation.WithLabelValues(driver).Observe(*p)
		st.propagation, st.hasPropagation = *p, true
	}
	for _, o := range r.Checks {
		if p := o.PropagationSeconds; p != nil && *p >= 0 && contains(verdict.Checks, o.Check) {
			m.checkPropagation.WithLabelValues(driver, string(o.Check)).Observe(*p)
			if driver == unknownDriver {
				m.drivers[driver][o.Check] = true
			}
		}
	}

	// A new slice, never st.drift appended to: a scrape may still read
	// the old one.
	var drift []verdict.Artifact
	for _, a := range r.Drift {
		if contains(verdict.Artifacts, a) && !contains(drift, a) {
			drift = append(drift, a)
			m.drift.WithLabelValues(driver, string(a)).Inc()
		}
	}
	st.drift = drift

	st.hasResidual = r.ResidualValiditySeconds != nil
	if st.hasResidual {
		st.residual = *r.ResidualValiditySeconds
	}
}

// Skipped counts a scheduled run that did not happen, per replica (the
// probe is in the log and on its status page, not in a label: a label
// would cost four series per probe). A reason outside SkipReasons is
// dropped (it would be an unbounded label value).
func (m *Metrics) Skipped(target, endpoint string, reason SkipReason) {
	if !contains(SkipReasons, reason) {
		return
	}
	m.skipped.WithLabelValues(string(reason)).Inc()
}

// ScheduleLag records the time from a run's planned tick to its start. A
// negative lag (a run started early, by a clock step) counts as zero.
func (m *Metrics) ScheduleLag(d time.Duration) {
	m.scheduleLag.Observe(max(d, 0).Seconds())
}

// ConfigReloaded records the outcome of a config load or reload (the load
// at start counts).
func (m *Metrics) ConfigReloaded(ok bool) {
	if ok {
		m.reloadSuccessful.Set(1)
		m.reloadTimestamp.Set(float64(m.now().UnixNano()) / 1e9)
		return
	}
	m.reloadSuccessful.Set(0)
}

// SetCoordination records whether the coordination backend is reachable.
// One backend at a time: the series of the other backends are deleted (a
// reload that switches from redis to none must not leave redis down
// forever). A backend outside Backends is ignored.
func (m *Metrics) SetCoordination(backend string, up bool) {
	if !contains(Backends, backend) {
		return
	}
	for _, b := range Backends {
		if b != backend {
			m.coordinationUp.DeleteLabelValues(b)
		}
	}
	v := 0.0
	if up {
		v = 1
	}
	m.coordinationUp.WithLabelValues(backend).Set(v)
}

// EvidenceHead exports the seq of the evidence chain's head (and creates
// the write error counter at zero). It implements evidence.Observer.
func (m *Metrics) EvidenceHead(seq uint64) {
	m.evidenceWriteErrors.WithLabelValues()
	m.evidenceLastSeq.WithLabelValues().Set(float64(seq))
}

// EvidenceWritable exports whether the evidence disk takes records. It
// implements evidence.Observer.
func (m *Metrics) EvidenceWritable(ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.evidenceWritable.WithLabelValues().Set(v)
}

// EvidenceWriteError counts a run whose evidence record was not written.
func (m *Metrics) EvidenceWriteError() {
	m.evidenceWriteErrors.WithLabelValues().Inc()
}
