// <fp-history>: runs and fee changes in time order, with roll back for a change or
// a whole run. A 409 (the channel was changed since) is explained in a dialog that
// offers "force" to the super user.
window.app.component('fp-history', {
  template: '#fp-history',
  props: {
    canEdit: Boolean,
    aliases: {type: Object, default: () => ({})},
    reloadKey: {type: Number, default: 0}
  },
  emits: ['changed', 'open-run'],
  data() {
    return {
      runs: [],
      changes: [],
      runTotal: 0,
      changeTotal: 0,
      limit: 25,
      show: 'all',
      loading: false,
      busy: null,
      conflict: null,
      runImpacts: {},
      showOptions: [
        {label: 'All', value: 'all'},
        {label: 'Changes', value: 'changes'},
        {label: 'Runs', value: 'runs'}
      ]
    }
  },
  computed: {
    entries() {
      const items = []
      if (this.show !== 'changes') this.runs.forEach(run => items.push({kind: 'run', at: run.created_at, key: 'r' + run.id, run}))
      if (this.show !== 'runs') this.changes.forEach(change => items.push({kind: 'change', at: change.created_at, key: 'c' + change.id, change}))
      return items.sort((a, b) => b.at - a.at || (a.kind === 'change' ? -1 : 1))
    },
    more() {
      return this.runs.length < this.runTotal || this.changes.length < this.changeTotal
    }
  },
  watch: {
    reloadKey() { this.load() }
  },
  mounted() {
    this.load()
  },
  methods: {
    ...FeePilot.methods,
    async load() {
      this.loading = true
      try {
        const [runs, changes] = await Promise.all([
          FeePilot.request('GET', `/runs?limit=${this.limit}`),
          FeePilot.request('GET', `/changes?limit=${this.limit}`)
        ])
        this.runs = runs.data.data
        this.runTotal = runs.data.total
        this.changes = changes.data.data
        this.changeTotal = changes.data.total
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.loading = false
      }
    },
    hasApplied(run) {
      return ['applied', 'partially_applied', 'rolled_back', 'partially_rolled_back', 'interrupted'].includes(run.status)
    },
    // A run's impact reads the node's forwarding history: fetched when asked for.
    async loadRunImpact(run) {
      if (this.busy) return
      this.busy = 'i' + run.id
      try {
        const {data} = await FeePilot.request('GET', `/runs/${run.id}`)
        this.runImpacts = {...this.runImpacts, [run.id]: data.impact || null}
        if (!data.impact && data.impact_error) Quasar.Notify.create({type: 'warning', message: data.impact_error})
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.busy = null
      }
    },
    loadMore() {
      this.limit = Math.min(this.limit * 2, 200)
      this.load()
    },
    peer(chanId) {
      return this.aliases[chanId] || chanId
    },
    canRollbackChange(change) {
      return this.canEdit && change.status === 'applied' && !change.rollback_of && !change.rolled_back_by
    },
    canRollbackRun(run) {
      return this.canEdit && ['applied', 'partially_applied'].includes(run.status)
    },
    runKind(kind) {
      return FeePilot.capitalized(FeePilot.runKind(kind))
    },
    sourceLabel(change) {
      const who = change.requested_by_name ? ` by ${change.requested_by_name}` : ''
      if (change.rollback_of) return 'roll back' + who
      if (change.source === 'external') return 'made outside Fee Autopilot'
      if (change.source === 'autopilot') return change.run_id ? 'autopilot' : 'autopilot' + who
      return (change.source === 'manual' ? 'by hand' : this.label(change.source)) + who
    },
    runCounts(run) {
      const c = run.counts || {}
      const parts = []
      const scored = c.scored != null ? c.scored : c.channels
      if (scored != null) parts.push(`${this.plural(scored, 'channel')} scored`)
      if (c.accepted != null) parts.push(`${c.accepted} proposed`)
      if (c.batch_applied) parts.push(`${c.batch_applied} applied`)
      if (c.batch_failed) parts.push(`${c.batch_failed} failed`)
      if (c.batch_restored) parts.push(`${c.batch_restored} restored`)
      return parts.join(' · ')
    },
    askRollbackChange(change) {
      LNbits.utils
        .confirmDialog(`Restore ${this.peer(change.chan_id)} to ${this.policyText(change.old_policy)}?`)
        .onOk(() => this.rollbackChange(change, false))
    },
    askRollbackRun(run) {
      LNbits.utils
        .confirmDialog(`Roll back every fee change this ${FeePilot.runKind(run.kind)} applied?`)
        .onOk(() => this.rollbackRun(run, false))
    },
    async rollbackChange(change, force) {
      if (this.busy) return
      this.busy = 'c' + change.id
      try {
        const {data} = await FeePilot.request('POST', `/changes/${change.id}/rollback`, {force})
        this.conflict = null
        Quasar.Notify.create({type: data.status === 'applied' ? 'positive' : 'warning', message: `${this.peer(change.chan_id)}: roll back ${data.status}`})
        this.$emit('changed')
        await this.load()
      } catch (error) {
        const conflict = FeePilot.conflictOf(error)
        if (conflict && !force) {
          this.conflict = {kind: 'change', target: change, detail: conflict.detail, rows: this.differenceRows(change.chan_id, conflict.differences)}
        } else {
          FeePilot.notifyError(error)
        }
      } finally {
        this.busy = null
      }
    },
    async rollbackRun(run, force) {
      if (this.busy) return
      this.busy = 'r' + run.id
      try {
        const {data} = await FeePilot.request('POST', `/runs/${run.id}/rollback`, {force})
        this.conflict = null
        Quasar.Notify.create({type: data.status === 'rolled_back' ? 'positive' : 'warning', message: `Run ${this.label(data.status)}: ${this.plural(data.changes.length, 'channel')} restored`})
        this.$emit('changed')
        await this.load()
      } catch (error) {
        const conflict = FeePilot.conflictOf(error)
        if (conflict && !force) {
          const rows = []
          Object.entries(conflict.conflicts || {}).forEach(([chanId, diff]) => rows.push(...this.differenceRows(chanId, diff)))
          this.conflict = {kind: 'run', target: run, detail: conflict.detail, rows}
        } else {
          FeePilot.notifyError(error)
        }
      } finally {
        this.busy = null
      }
    },
    differenceRows(chanId, differences) {
      return Object.entries(differences || {}).map(([field, values]) => ({
        key: chanId + field,
        peer: this.peer(chanId),
        field: this.label(field),
        expected: values.expected,
        live: values.live
      }))
    },
    force() {
      const conflict = this.conflict
      if (!conflict) return
      if (conflict.kind === 'change') this.rollbackChange(conflict.target, true)
      else this.rollbackRun(conflict.target, true)
    }
  }
})
