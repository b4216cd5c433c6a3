// <fp-summary>: "is it earning?" — fees, forwards and volume over the last day, week
// and month against the period before, yield on capacity, channels drained or full
// right now, and what Fee Autopilot did since the operator last opened the page.
// Every figure comes from GET /summary; the page computes nothing of its own.
const FP_LAST_SEEN_KEY = 'feepilot.lastSeen'

window.app.component('fp-summary', {
  template: '#fp-summary',
  props: {
    reloadKey: {type: Number, default: 0}
  },
  data() {
    return {summary: null, loading: false, since: null}
  },
  computed: {
    periods() {
      return (this.summary && this.summary.periods) || []
    },
    activity() {
      return (this.summary && this.summary.activity) || {}
    },
    activityLine() {
      const a = this.activity
      const parts = [
        this.plural(a.applied || 0, 'fee change') + ' applied',
        this.plural(a.restored || 0, 'change') + ' rolled back',
        this.plural(a.blocked || 0, 'proposal') + ' held by a guardrail'
      ]
      if (a.failed) parts.push(this.plural(a.failed, 'change') + ' failed')
      parts.push(this.plural(a.external || 0, 'change') + ' made outside Fee Autopilot')
      return parts.join(' · ')
    },
    sinceText() {
      if (!this.summary) return ''
      return this.summary.since ? `Since your last visit (${this.when(this.summary.since)})` : 'In the last 7 days'
    }
  },
  watch: {
    reloadKey() { this.load() }
  },
  created() {
    // The visit before this one; the page keeps it for as long as it stays open.
    const stored = Number(window.localStorage.getItem(FP_LAST_SEEN_KEY))
    const now = Math.floor(Date.now() / 1000)
    this.since = stored > 0 && stored < now ? stored : null
    window.localStorage.setItem(FP_LAST_SEEN_KEY, String(now))
    this.load()
  },
  methods: {
    ...FeePilot.methods,
    async load() {
      this.loading = true
      try {
        const query = this.since && Date.now() / 1000 - this.since < 90 * 86400 ? `?since=${this.since}` : ''
        const {data} = await FeePilot.request('GET', '/summary' + query)
        this.summary = data
        if (data.drained_below != null) FeePilot.limits.drainedBelow = data.drained_below
        if (data.full_above != null) FeePilot.limits.fullAbove = data.full_above
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.loading = false
      }
    },
    changeColor(period) {
      if (period.change_pct == null) return 'text-grey-6'
      return period.change_pct >= 0 ? 'text-green-5' : 'text-deep-orange-5'
    },
    changeText(period) {
      if (period.change_pct == null) {
        return period.previous_fees_sat ? '' : 'nothing earned the period before'
      }
      return `${this.signedPercent(period.change_pct)} vs the ${period.days === 1 ? 'day' : period.days + ' days'} before`
    }
  }
})
