// Fee Autopilot page: the root app. Header (node, mode, runs, breaker), the "is it
// earning?" band, tabs with the channel table, the history and the earnings, and the
// dialogs. Components live in static/js/components/ and register themselves on window.app.
window.app = Vue.createApp({
  el: '#vue',
  mixins: [windowMixin],
  data() {
    return {
      status: null,
      channels: [],
      scores: null,
      settings: null,
      earnings: null,
      earningsDays: 30,
      loading: false,
      loaded: false,
      tab: 'channels',
      runBusy: false,
      run: null,
      runDialog: false,
      settingsDialog: false,
      modeBusy: false,
      modeDialog: false,
      modeTarget: 'shadow',
      summaryKey: 0,
      pinBusy: {},
      historyKey: 0,
      publicSummary: null,
      publicChecked: false,
      modeOptions: [
        {label: 'Off', value: 'off'},
        {label: 'Shadow', value: 'shadow'},
        {label: 'Autopilot', value: 'autopilot'}
      ]
    }
  },
  computed: {
    // GET /status says what the backend can do; until it has answered, nothing is hidden
    inboundFees() {
      const can = this.status && this.status.capabilities
      return !can || can.inbound_fees !== false
    },
    isAdmin() {
      return Boolean(this.g.user && (this.g.user.admin || this.g.user.super_user))
    },
    isSuper() {
      return Boolean(this.g.user && this.g.user.super_user)
    },
    pinned() {
      return (this.settings && this.settings.engine.guardrails.pinned_channels) || []
    },
    rows() {
      const scores = {}
      ;((this.scores && this.scores.channels) || []).forEach(s => (scores[s.chan_id] = s))
      return this.channels.map(c => ({
        ...c,
        score: scores[c.id] || null,
        pinned: this.pinned.includes(c.id) || this.pinned.includes(c.short_id)
      }))
    },
    staleCount() {
      return this.rows.filter(row => FeePilot.staleness(row)).length
    },
    // open channels the last run did not score (opened since, or a node that was reset)
    unscoredCount() {
      if (!this.scores || !this.scores.run) return 0
      return this.rows.filter(row => !row.score && (row.state === 'active' || row.state === 'inactive')).length
    },
    aliases() {
      const map = {}
      this.channels.forEach(c => (map[c.id] = c.peer_alias || c.short_id))
      return map
    },
    breaker() {
      const b = (this.status && this.status.circuit_breaker) || {}
      const state = b.state || 'closed'
      return {
        state,
        color: {closed: 'positive', open: 'negative', half_open: 'warning'}[state] || 'grey-6',
        text: {closed: 'Node calls healthy', open: 'Node calls paused', half_open: 'Node calls being retried'}[state] || state,
        detail: b.last_error || (state === 'closed' ? 'The circuit breaker is closed: calls to the node go through.' : '')
      }
    },
    htlcEventsText() {
      const h = (this.status && this.status.htlc_events) || {}
      const since = h.since ? `live since ${this.when(h.since)}` : 'live'
      return `The node's HTLC event stream: ${since}; ${this.plural(h.failed_24h || 0, 'failed forward')} in the last 24 h.`
    },
    modeHelp() {
      return {
        off: 'Off: nothing runs on a schedule.',
        shadow: 'Shadow: runs on schedule and records proposals, changes nothing.',
        autopilot: 'Autopilot: runs on schedule and applies accepted proposals.'
      }[this.status ? this.status.mode : 'shadow']
    },
    distribution() {
      const bands = (this.publicSummary && this.publicSummary.score_distribution) || {}
      const max = Math.max(1, ...Object.values(bands))
      return Object.entries(bands).map(([band, count]) => ({band, count, share: count / max}))
    }
  },
  methods: {
    ...FeePilot.methods,
    async refresh() {
      if (this.loading) return
      this.loading = true
      try {
        const [status, settings] = await Promise.all([
          FeePilot.request('GET', '/status'),
          FeePilot.request('GET', '/settings')
        ])
        this.status = status.data
        this.settings = settings.data
        if (this.status.node_api_available) {
          const [channels, scores] = await Promise.all([
            FeePilot.request('GET', '/channels'),
            FeePilot.request('GET', '/scores')
          ])
          this.channels = channels.data.channels
          this.scores = scores.data
          this.loadEarnings()
        } else {
          this.channels = []
          this.scores = null
        }
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.loading = false
        this.loaded = true
      }
    },
    async loadEarnings() {
      try {
        const {data} = await FeePilot.request('GET', `/earnings?days=${this.earningsDays}`)
        this.earnings = data
      } catch (error) {
        FeePilot.notifyError(error)
      }
    },
    async dryRun() {
      if (this.runBusy) return
      this.runBusy = true
      try {
        const {data} = await FeePilot.request('POST', '/runs', {dry_run: true})
        this.run = data
        this.runDialog = true
        this.refreshScores()
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.runBusy = false
      }
    },
    async refreshScores() {
      try {
        const [scores, status] = await Promise.all([FeePilot.request('GET', '/scores'), FeePilot.request('GET', '/status')])
        this.scores = scores.data
        this.status = status.data
      } catch (error) {
        FeePilot.notifyError(error)
      }
    },
    async afterChange() {
      this.historyKey += 1
      this.summaryKey += 1
      try {
        const [channels, status] = await Promise.all([FeePilot.request('GET', '/channels'), FeePilot.request('GET', '/status')])
        this.channels = channels.data.channels
        this.status = status.data
      } catch (error) {
        FeePilot.notifyError(error)
      }
    },
    // Into or out of autopilot: a dialog with a dry-run preview asks first.
    async setMode(mode) {
      if (!this.isSuper || this.modeBusy || !this.status || mode === this.status.mode) return
      if (mode === 'autopilot' || this.status.mode === 'autopilot') {
        this.modeTarget = mode
        this.modeDialog = true
        return
      }
      this.modeBusy = true
      try {
        const {data} = await FeePilot.request('PUT', '/settings', {mode})
        await this.onModeSwitched(data)
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.modeBusy = false
      }
    },
    async onModeSwitched(settings) {
      this.settings = settings
      try {
        const status = await FeePilot.request('GET', '/status')
        this.status = status.data
      } catch (error) {
        FeePilot.notifyError(error)
      }
      Quasar.Notify.create({type: 'positive', message: this.modeHelp})
      this.refreshScores()
    },
    // The scores are out of date: score again (a dry-run) without opening its dialog.
    async rescore() {
      if (this.runBusy) return
      this.runBusy = true
      try {
        await FeePilot.request('POST', '/runs', {dry_run: true})
        const channels = await FeePilot.request('GET', '/channels')
        this.channels = channels.data.channels
        await this.refreshScores()
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.runBusy = false
      }
    },
    async togglePin(row) {
      if (!this.isSuper || this.pinBusy[row.id]) return
      this.pinBusy = {...this.pinBusy, [row.id]: true}
      try {
        await FeePilot.request('PUT', `/channels/${encodeURIComponent(row.id)}/pin`, {pinned: !row.pinned})
        const {data} = await FeePilot.request('GET', '/settings')
        this.settings = data
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        const busy = {...this.pinBusy}
        delete busy[row.id]
        this.pinBusy = busy
      }
    },
    onSettingsSaved(data) {
      this.settings = data
      FeePilot.request('GET', '/status')
        .then(({data}) => (this.status = data))
        .catch(FeePilot.notifyError)
    },
    setEarningsDays(days) {
      this.earningsDays = days
      this.loadEarnings()
    },
    async loadPublicSummary() {
      try {
        const {data} = await FeePilot.request('GET', '/public/summary')
        // enabled false: the super user has not turned the public summary on.
        this.publicSummary = data.enabled ? data : null
      } catch (error) {
        FeePilot.notifyError(error)
        this.publicSummary = null
      } finally {
        this.publicChecked = true
      }
    }
  },
  created() {
    if (this.isAdmin) this.refresh()
    else this.loadPublicSummary()
  }
})
