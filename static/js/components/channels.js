// <fp-channel-table>: every channel with its fee, balance, score and proposed action;
// a row expands to <fp-channel-detail> (the eight heuristics, changes, charts).
window.app.component('fp-channel-table', {
  template: '#fp-channel-table',
  props: {
    rows: {type: Array, required: true},
    loading: Boolean,
    canEdit: Boolean,
    earnings: {type: Object, default: null},
    pinBusy: {type: Object, default: () => ({})}
  },
  emits: ['pin', 'changed'],
  data() {
    return {
      filter: '',
      stateFilter: 'open',
      pagination: {rowsPerPage: 25, sortBy: 'score', descending: false},
      stateOptions: [
        {label: 'Open', value: 'open'},
        {label: 'Needs action', value: 'action'},
        {label: 'All', value: 'all'}
      ],
      columns: [
        {name: 'peer', label: 'Peer', field: row => (row.peer_alias || row.peer_id || '').toLowerCase(), align: 'left', sortable: true},
        {name: 'capacity', label: 'Capacity', field: 'capacity_sat', align: 'right', sortable: true},
        {name: 'balance', label: 'Local / remote', field: row => this.localShare(row), align: 'left', sortable: true},
        {name: 'fee', label: 'Fee', field: row => (row.policy ? row.policy.ppm : -1), align: 'right', sortable: true},
        {name: 'score', label: 'Score', field: row => (row.score && row.score.total != null ? row.score.total : -1), align: 'center', sortable: true},
        {name: 'confidence', label: 'Confidence', field: row => (row.score ? row.score.confidence : -1), align: 'right', sortable: true},
        {name: 'action', label: 'Proposal', field: row => (row.score ? row.score.action : ''), align: 'left', sortable: true},
        {name: 'pin', label: 'Pinned', field: row => (row.pinned ? 1 : 0), align: 'center', sortable: true}
      ]
    }
  },
  computed: {
    visibleRows() {
      if (this.stateFilter === 'all') return this.rows
      if (this.stateFilter === 'action') {
        return this.rows.filter(row => row.score && (row.score.action !== 'NO_ACTION' || row.score.advice.length))
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
        [row.peer_alias, row.peer_id, row.id, row.short_id, row.state, row.score && row.score.action,
          row.score && this.action(row.score.action).label, row.score && row.score.reason]
          .filter(Boolean)
          .some(value => String(value).toLowerCase().includes(needle))
      )
    },
    localShare(row) {
      const total = (row.local_sat || 0) + (row.remote_sat || 0)
      return total > 0 ? row.local_sat / total : 0
    },
    stateColor(state) {
      return {active: 'positive', inactive: 'warning', pending: 'info', closed: 'grey-6'}[state] || 'grey-6'
    }
  }
})

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
    feeSpec() {
      const points = (this.history && this.history.points) || []
      const changes = (this.history && this.history.changes) || []
      const applied = changes.filter(c => c.status === 'applied')
      return {
        type: 'line',
        data: {
          datasets: [
            {label: 'Fee (ppm)', data: points.map(p => ({x: p.at, y: p.ppm})), borderColor: '#ff9800', backgroundColor: '#ff9800', yAxisID: 'ppm', stepped: true, pointRadius: 2},
            {label: 'Local balance (sat)', data: points.map(p => ({x: p.at, y: p.local_sat})), borderColor: '#29b6f6', backgroundColor: '#29b6f6', yAxisID: 'sat', pointRadius: 2},
            {label: 'Fee changes', type: 'scatter', data: applied.map(c => ({x: c.settled_at || c.created_at, y: c.new_policy.ppm})), borderColor: '#e91e63', backgroundColor: '#e91e63', yAxisID: 'ppm', pointStyle: 'triangle', pointRadius: 6}
          ]
        },
        options: {
          parsing: true,
          scales: {
            x: {type: 'linear'},
            ppm: {type: 'linear', position: 'left', beginAtZero: true, title: {display: true, text: 'ppm'}},
            sat: {type: 'linear', position: 'right', beginAtZero: true, grid: {drawOnChartArea: false}, title: {display: true, text: 'sat'}}
          }
        },
        hooks: {
          ticks: {x: value => FeePilot.when(value).slice(5, 10), sat: value => FeePilot.compactSat(value)},
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
        options: {scales: {x: {}, y: {beginAtZero: true}}}
      }
    },
    earnedTotal() {
      const values = (this.earnings && this.earnings.per_channel[this.row.id]) || []
      return Math.round(values.reduce((a, b) => a + b, 0) / 1000)
    }
  },
  methods: {
    ...FeePilot.methods,
    async load() {
      if (this.row.state !== 'active' && this.row.state !== 'inactive') return
      this.loading = true
      try {
        const {data} = await FeePilot.request('GET', `/channels/${encodeURIComponent(this.row.id)}/history?days=30`)
        this.history = data
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      } finally {
        this.loading = false
      }
    },
    heuristic(name) {
      return FeePilot.HEURISTICS[name] || FeePilot.label(name)
    }
  },
  watch: {
    'row.score'() { this.load() }
  },
  mounted() {
    this.load()
  }
})
