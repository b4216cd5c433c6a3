// <fp-channel-table>: every channel with its balance, its fee now → the proposed fee,
// one plain sentence of why, the guardrail that capped or held it, and whether the
// scores are out of date. Under 600 px the rows become cards. A row expands to
// <fp-channel-detail> (the eight parts of the health score, the fee formula, the
// changes with their effect, charts).
window.app.component('fp-channel-table', {
  template: '#fp-channel-table',
  props: {
    rows: {type: Array, required: true},
    loading: Boolean,
    canEdit: Boolean,
    earnings: {type: Object, default: null},
    pinBusy: {type: Object, default: () => ({})},
    rescoreBusy: Boolean
  },
  emits: ['pin', 'changed', 'rescore'],
  data() {
    return {
      filter: '',
      stateFilter: 'open',
      expanded: {},
      pagination: {rowsPerPage: 25, sortBy: 'score', descending: false},
      stateOptions: [
        {label: 'Open', value: 'open'},
        {label: 'Needs action', value: 'action'},
        {label: 'All', value: 'all'}
      ],
      columns: [
        {name: 'peer', label: 'Peer', field: row => this.peerName(row).toLowerCase(), align: 'left', sortable: true},
        {name: 'balance', label: 'Balance', field: row => FeePilot.localShare(row), align: 'left', sortable: true,
          help: 'Our side (blue) and the peer\'s side (orange) of the channel'},
        {name: 'fee', label: 'Fee → proposed', field: row => (row.policy ? row.policy.ppm : -1), align: 'left', sortable: true,
          help: 'The fee on the node now and the fee the controller proposes (grey: held back by a guardrail)'},
        {name: 'reason', label: 'Why', field: row => (row.score ? row.score.headline || '' : ''), align: 'left'},
        {name: 'score', label: 'Health', field: row => (row.score && row.score.total != null ? row.score.total : -1), align: 'center', sortable: true,
          help: 'Health and value of the channel (0–1), from eight parts; hover a score for what it decides under the fee mode'},
        {name: 'pin', label: 'Pinned', field: row => (row.pinned ? 1 : 0), align: 'center', sortable: true}
      ]
    }
  },
  computed: {
    visibleRows() {
      if (this.stateFilter === 'all') return this.rows
      if (this.stateFilter === 'action') {
        return this.rows.filter(row => FeePilot.proposalOf(row) || (row.score && row.score.advice.length))
      }
      return this.rows.filter(row => row.state === 'active' || row.state === 'inactive')
    }
  },
  methods: {
    ...FeePilot.methods,
    filterRows(rows, terms) {
      const needle = (terms || '').toLowerCase().trim()
      if (!needle) return rows
      return rows.filter(row =>
        [row.peer_alias, row.peer_id, row.id, row.short_id, row.state, row.score && row.score.headline,
          row.score && row.score.reason]
          .filter(Boolean)
          .some(value => String(value).toLowerCase().includes(needle))
      )
    },
    peerName(row) {
      return row.peer_alias || (row.peer_id || '').slice(0, 16)
    },
    pinnable(row) {
      return row.state === 'active' || row.state === 'inactive'
    },
    stale(row) {
      return Boolean(FeePilot.staleness(row))
    },
    toggle(id) {
      this.expanded = {...this.expanded, [id]: !this.expanded[id]}
    },
    stateColor(state) {
      return {active: 'positive', inactive: 'warning', pending: 'info', closed: 'grey-6'}[state] || 'grey-6'
    }
  }
})

window.app.component('fp-balance', {
  template: '#fp-balance',
  props: {row: {type: Object, required: true}},
  computed: {
    share() {
      return FeePilot.localShare(this.row)
    },
    mark() {
      const limits = FeePilot.limits
      if (this.row.state !== 'active' && this.row.state !== 'inactive') return null
      if (this.share < limits.drainedBelow) {
        return {text: 'drained', color: 'negative', help: `Less than ${this.percent(limits.drainedBelow)} on our side: it can hardly forward out`}
      }
      if (this.share > limits.fullAbove) {
        return {text: 'full', color: 'warning', help: `More than ${this.percent(limits.fullAbove)} on our side: it can hardly receive`}
      }
      return null
    }
  },
  methods: {...FeePilot.methods}
})

window.app.component('fp-fee-chips', {
  template: '#fp-fee-chips',
  props: {row: {type: Object, required: true}},
  computed: {
    proposal() {
      return FeePilot.proposalOf(this.row)
    }
  },
  methods: {...FeePilot.methods}
})

window.app.component('fp-reason', {
  template: '#fp-reason',
  props: {row: {type: Object, required: true}, busy: Boolean},
  emits: ['rescore'],
  computed: {
    headline() {
      const score = this.row.score
      return score.headline || this.action(score.fee_action).label
    },
    limit() {
      return this.row.score.limited_by || null
    },
    advice() {
      return this.row.score.advice || []
    },
    staleText() {
      return FeePilot.staleness(this.row)
    }
  },
  methods: {...FeePilot.methods}
})

const HISTORY_DAYS = 30 // what a channel's detail shows

window.app.component('fp-channel-detail', {
  template: '#fp-channel-detail',
  props: {
    row: {type: Object, required: true},
    earnings: {type: Object, default: null},
    canEdit: Boolean
  },
  emits: ['changed'],
  data() {
    return {history: null, loading: false}
  },
  computed: {
    parts() {
      return this.row.score ? this.row.score.parts : []
    },
    recentChanges() {
      return this.history ? this.history.changes.slice().reverse().slice(0, 5) : []
    },
    span() {
      const points = (this.history && this.history.points) || []
      return points.length > 1 ? points[points.length - 1].at - points[0].at : 0
    },
    chartTitle() {
      const points = (this.history && this.history.points) || []
      if (!points.length) return 'Fee and our balance'
      return `Fee and our balance, since ${this.when(points[0].at)} (${this.duration(this.span)})`
    },
    feeSpec() {
      const points = (this.history && this.history.points) || []
      const changes = (this.history && this.history.changes) || []
      const applied = changes.filter(c => c.status === 'applied')
      return {
        type: 'line',
        data: {
          datasets: [
            {label: 'Fee (ppm)', data: points.map(p => ({x: p.at, y: p.ppm})), borderColor: '#ff9800', backgroundColor: '#ff9800', yAxisID: 'ppm', stepped: true, pointRadius: 2},
            {label: 'Our balance (sat)', data: points.map(p => ({x: p.at, y: p.local_sat})), borderColor: '#29b6f6', backgroundColor: '#29b6f6', yAxisID: 'sat', pointRadius: 2},
            {label: 'Fee changes', type: 'scatter', data: applied.map(c => ({x: c.settled_at || c.created_at, y: c.new_policy.ppm})), borderColor: '#e91e63', backgroundColor: '#e91e63', yAxisID: 'ppm', pointStyle: 'triangle', pointRadius: 6}
          ]
        },
        options: {
          parsing: true,
          scales: {
            x: {type: 'linear', ticks: {maxTicksLimit: 6}},
            ppm: {type: 'linear', position: 'left', beginAtZero: true, title: {display: true, text: 'ppm'}},
            sat: {type: 'linear', position: 'right', beginAtZero: true, grid: {drawOnChartArea: false}, title: {display: true, text: 'sat'}}
          }
        },
        hooks: {
          ticks: {x: FeePilot.timeTick(this.span), sat: value => FeePilot.compactSat(value)},
          tooltip: {title: items => (items.length ? FeePilot.when(items[0].parsed.x) : '')}
        }
      }
    },
    earnedSpec() {
      const days = (this.earnings && this.earnings.days) || []
      const values = (this.earnings && this.earnings.per_channel[this.row.id]) || days.map(() => 0)
      return {
        type: 'bar',
        data: {
          labels: days.map(d => FeePilot.when(d.day).slice(5, 10)),
          datasets: [{label: 'Fees earned (sat)', data: values.map(v => v / 1000), backgroundColor: '#66bb6a'}]
        },
        options: {scales: {x: {ticks: {maxTicksLimit: 8}}, y: {beginAtZero: true}}}
      }
    },
    earnedDays() {
      return ((this.earnings && this.earnings.days) || []).length
    },
    earnedTotal() {
      const values = (this.earnings && this.earnings.per_channel[this.row.id]) || []
      return Math.round(values.reduce((a, b) => a + b, 0) / 1000)
    },
    advice() {
      return (this.row.score && this.row.score.advice) || []
    },
    failures() {
      return this.history ? this.history.failed_forwards : null
    },
    historyDays() {
      return HISTORY_DAYS
    }
  },
  methods: {
    ...FeePilot.methods,
    failureReason(f) {
      if (f.failure_detail === 'INSUFFICIENT_BALANCE') return 'not enough balance on our side'
      if (f.failure_detail === 'FAILED_DOWNSTREAM') return 'failed further along the route'
      return FeePilot.label((f.failure_detail || f.wire_failure || 'failed').toLowerCase())
    },
    async load() {
      if (this.row.state !== 'active' && this.row.state !== 'inactive') return
      this.loading = true
      try {
        const {data} = await FeePilot.request('GET', `/channels/${encodeURIComponent(this.row.id)}/history?days=${HISTORY_DAYS}`)
        this.history = data
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.loading = false
      }
    },
    heuristic(name) {
      return FeePilot.HEURISTICS[name] || FeePilot.label(name)
    },
    evidence(part) {
      if (part.evidence_text) return part.evidence_text
      return Object.entries(part.evidence || {}).map(([key, value]) => ({label: this.label(key), value: this.evidenceValue(value)}))
    },
    changeSource(change) {
      if (change.rollback_of) return 'roll back'
      return {autopilot: 'autopilot', manual: 'by hand', external: 'outside Fee Autopilot'}[change.source] || this.label(change.source)
    }
  },
  watch: {
    'row.score'() { this.load() }
  },
  mounted() {
    this.load()
  }
})
