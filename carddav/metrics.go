package carddav

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Request kinds, the "kind" label of the metrics and the access log.
const (
	kindWellKnown        = "well_known"
	kindUnauthorized     = "unauthorized"
	kindBadPath          = "bad_path"
	kindOptions          = "options"
	kindGet              = "get"
	kindPropfind         = "propfind" // a path that names nothing
	kindPropfindRoot     = "propfind_root"
	kindPropfindPrinc    = "propfind_principal"
	kindPropfindHome     = "propfind_home"
	kindPropfindBook     = "propfind_book"
	kindPropfindCard     = "propfind_card"
	kindReport           = "report" // not parsed, or unsupported
	kindSyncCollection   = "sync_collection"
	kindMultiget         = "multiget"
	kindQuery            = "query"
	kindWriteRefused     = "write_refused"
	kindMethodNotAllowed = "method_not_allowed"
)

// allKinds lists every request kind, for the series made up front.
var allKinds = []string{
	kindWellKnown, kindUnauthorized, kindBadPath, kindOptions, kindGet,
	kindPropfind, kindPropfindRoot, kindPropfindPrinc, kindPropfindHome, kindPropfindBook, kindPropfindCard,
	kindReport, kindSyncCollection, kindMultiget, kindQuery, kindWriteRefused, kindMethodNotAllowed,
}

// kindMetrics are the series of one request kind, looked up once.
type kindMetrics struct {
	codes    [6]prometheus.Counter // by status class: 1xx at 1 ... 5xx at 5, others at 0
	duration prometheus.Observer
	bytes    prometheus.Counter
}

// metrics are the handler's Prometheus collectors.
type metrics struct {
	kinds       map[string]*kindMetrics // read-only once made
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	bytes       *prometheus.CounterVec
	cache       *prometheus.CounterVec
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	cacheBytes  prometheus.GaugeFunc
}

func newMetrics(cacheBytes func() float64) *metrics {
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dirbook",
		Subsystem: "carddav",
		Name:      "card_cache_lookups_total",
		Help:      "Lookups of rendered vCards in the cache, by result (hit or miss).",
	}, []string{"result"})
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dirbook",
			Subsystem: "carddav",
			Name:      "requests_total",
			Help:      "CardDAV requests, by kind and status class (2xx, 3xx, 4xx, 5xx).",
		}, []string{"kind", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dirbook",
			Subsystem: "carddav",
			Name:      "request_duration_seconds",
			Help:      "Time to answer a CardDAV request, by kind.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dirbook",
			Subsystem: "carddav",
			Name:      "response_bytes_total",
			Help:      "Bytes of response bodies written (after compression), by kind.",
		}, []string{"kind"}),
		cache:       cache,
		cacheHits:   cache.WithLabelValues("hit"),
		cacheMisses: cache.WithLabelValues("miss"),
		cacheBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "dirbook",
			Subsystem: "carddav",
			Name:      "card_cache_bytes",
			Help:      "Bytes of rendered vCards held in the cache.",
		}, cacheBytes),
	}
	m.kinds = make(map[string]*kindMetrics, len(allKinds))
	for _, k := range allKinds {
		km := &kindMetrics{
			duration: m.duration.WithLabelValues(k),
			bytes:    m.bytes.WithLabelValues(k),
		}
		for i := range km.codes {
			km.codes[i] = m.requests.WithLabelValues(k, statusClass(i*100))
		}
		m.kinds[k] = km
	}
	return m
}

// collectors lists the collectors of m.
func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.bytes, m.cache, m.cacheBytes}
}

// observe records one answered request.
func (m *metrics) observe(kind string, status int, elapsed time.Duration, written int64) {
	km := m.kinds[kind]
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	km.codes[class].Inc()
	km.duration.Observe(elapsed.Seconds())
	km.bytes.Add(float64(written))
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
