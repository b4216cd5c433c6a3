// <fp-run-dialog v-model="open" :run="run">: the proposals of a (dry) run with
// checkboxes; "Apply selected" asks for confirmation, applies them as one batch
// and shows what happened on every channel.
window.app.component('fp-run-dialog', {
  template: '#fp-run-dialog',
  props: {
    modelValue: Boolean,
    run: {type: Object, default: null},
    canApply: Boolean
  },
  emits: ['update:modelValue', 'update:run', 'applied'],
  data() {
    return {selected: [], applying: false, confirming: false, result: null}
  },
  computed: {
    proposals() {
      return this.run ? this.run.decisions.filter(d => d.accepted && d.new_policy) : []
    },
    blocked() {
      return this.run ? this.run.decisions.filter(d => !d.accepted && d.fee_action !== 'NO_ACTION') : []
    },
    scoredCount() {
      const counts = (this.run && this.run.counts) || {}
      if (this.run && this.run.decisions_trimmed && counts.scored != null) return counts.scored
      return this.run ? this.run.decisions.length : 0
    },
    proposedCount() {
      const counts = (this.run && this.run.counts) || {}
      if (this.run && this.run.decisions_trimmed && counts.accepted != null) return counts.accepted
      return this.proposals.length
    },
    unchanged() {
      return this.run ? this.run.decisions.filter(d => !d.accepted && d.fee_action === 'NO_ACTION') : []
    },
    allSelected: {
      get() {
        if (!this.selected.length) return false
        return this.selected.length === this.selectable.length ? true : null
      },
      set(value) {
        this.selected = value ? this.selectable.map(d => d.id) : []
      }
    },
    selectable() {
      return this.proposals.filter(d => !['applied', 'restored'].includes(d.status))
    },
    appliedText() {
      const applied = this.run ? this.run.decisions.filter(d => d.status === 'applied').length : 0
      if (!applied && !this.result) return 'Nothing has been applied.'
      return applied ? `${this.plural(applied, 'change')} from this run applied.` : 'Nothing from this run was applied.'
    },
    outcomeCounts() {
      const counts = {}
      ;(this.result ? this.result.outcomes : []).forEach(o => (counts[o.status] = (counts[o.status] || 0) + 1))
      return counts
    }
  },
  watch: {
    run(next, previous) {
      this.selected = []
      // the same run reloaded after an apply keeps its outcome on screen
      if (!next || !previous || next.id !== previous.id) this.result = null
    }
  },
  methods: {
    ...FeePilot.methods,
    close() {
      this.$emit('update:modelValue', false)
    },
    peer(chanId) {
      const decision = this.run && this.run.decisions.find(d => d.chan_id === chanId)
      return decision ? decision.peer_alias || decision.short_id || chanId : chanId
    },
    change(decision) {
      const old = decision.old_policy
      const neu = decision.new_policy
      if (!old || !neu) return ''
      const parts = []
      if (old.ppm !== neu.ppm) parts.push(`${old.ppm} → ${neu.ppm} ppm`)
      if (old.base_msat !== neu.base_msat) parts.push(`base ${old.base_msat} → ${neu.base_msat} msat`)
      return parts.join(', ') || 'no fee change'
    },
    askApply() {
      if (!this.selected.length || this.applying) return
      this.confirming = true
    },
    async apply() {
      if (this.applying) return
      this.confirming = false
      this.applying = true
      try {
        const {data} = await FeePilot.request('POST', `/runs/${this.run.id}/apply`, {decision_ids: this.selected})
        this.result = data
        this.selected = []
        this.$emit('applied', data)
        // the run again, with every decision's status: applied ones lose their checkbox
        const fresh = await FeePilot.request('GET', `/runs/${data.run_id || this.run.id}`)
        this.$emit('update:run', fresh.data)
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.applying = false
      }
    }
  }
})
