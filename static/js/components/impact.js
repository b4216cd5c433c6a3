// <fp-impact :impact="change.impact">: "did it help?" — fees earned, forwards and our
// share of the channel over equal windows before and after a change (or a run), as
// the server computed them (GET /changes, /channels/{id}/history, /runs/{id}).
window.app.component('fp-impact', {
  template: '#fp-impact',
  props: {impact: {type: Object, required: true}},
  computed: {
    delta() {
      return this.impact.after.fees_sat - this.impact.before.fees_sat
    },
    headline() {
      if (this.impact.window_s < 3600) return 'Too early to tell: applied less than an hour ago'
      const d = this.delta
      if (Math.abs(d) < 0.0005) return `Fees unchanged over ${this.duration(this.impact.window_s)}`
      return `${d > 0 ? '+' : '−'}${this.feeSat(Math.abs(d))} sat in fees over ${this.duration(this.impact.window_s)}`
    },
    icon() {
      if (this.impact.window_s < 3600 || Math.abs(this.delta) < 0.0005) return 'hourglass_empty'
      return this.delta > 0 ? 'trending_up' : 'trending_down'
    },
    color() {
      if (this.impact.window_s < 3600 || Math.abs(this.delta) < 0.0005) return 'grey-6'
      return this.delta > 0 ? 'positive' : 'negative'
    }
  },
  methods: {
    ...FeePilot.methods,
    share(value) {
      return value == null ? '—' : this.percent(value)
    }
  }
})
