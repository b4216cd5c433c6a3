// <fp-settings-dialog v-model="open">: mode, schedule, weights (kept adding up to
// 1), guardrails and channel lists. The server validates; each of its errors is
// shown beside the field it names (`errors[].field`). The lists below give the
// layout and order; the labels shown are the server's (`labels` of GET /settings,
// the names its messages use), these texts only until it has answered.
const FP_GENERAL_FIELDS = [
  {path: 'interval_minutes', label: 'Run every (minutes)', hint: 'At least 5', type: 'int'},
  {path: 'graph_refresh_minutes', label: 'Refresh the network graph every (minutes)', type: 'int'},
  {path: 'history_days', label: 'History used for decisions (days)', type: 'int'},
  {path: 'retention_days', label: 'Keep scores and history (days)', type: 'int'},
  {path: 'runs_retention_days', label: 'Keep runs (days)', hint: 'Runs the change log names are kept', type: 'int'},
  {path: 'decisions_retention_days', label: 'Keep every decision of a run (days)', hint: 'Afterwards a run keeps the decisions it applied', type: 'int'},
  {path: 'forwards_retention_days', label: 'Keep forwarding history (days)', hint: 'At least 30', type: 'int'},
  {path: 'notification_min_interval_minutes', label: 'Minutes between notifications', type: 'int'}
]
const FP_TOGGLES = [
  {path: 'batch_rollback', label: 'Roll a batch back when one of its changes fails'},
  {path: 'notifications', label: 'Send LNbits admin notifications'},
  {path: 'public_summary', label: 'Show a public summary (aggregates only) to every LNbits user'},
  {path: 'engine.guardrails.only_active', label: 'Only change active channels'}
]
const FP_GUARDRAIL_FIELDS = [
  {path: 'engine.guardrails.min_ppm', label: 'Minimum fee (ppm)', type: 'int'},
  {path: 'engine.guardrails.max_ppm', label: 'Maximum fee (ppm)', type: 'int'},
  {path: 'engine.guardrails.min_base_msat', label: 'Minimum base fee (msat)', type: 'int'},
  {path: 'engine.guardrails.max_base_msat', label: 'Maximum base fee (msat)', type: 'int'},
  {path: 'engine.guardrails.max_step_pct', label: 'Largest step (share of the fee, 0–1)', type: 'float'},
  {path: 'engine.guardrails.max_step_ppm', label: 'Largest step (ppm)', type: 'int'},
  {path: 'engine.guardrails.step_floor_ppm', label: 'Smallest step cap (ppm)', type: 'int'},
  {path: 'engine.guardrails.max_changes_per_run', label: 'Changes per run at most', type: 'int'}
]
const FP_OSCILLATION_FIELDS = [
  {path: 'engine.anti_oscillation.relay_tokens_per_update', label: 'Relay budget: tokens per update (0: off)', type: 'float'},
  {path: 'engine.anti_oscillation.relay_tokens_per_hour', label: 'Relay budget: tokens gained per hour', type: 'float'},
  {path: 'engine.anti_oscillation.relay_bucket_max', label: 'Relay budget: most tokens held', type: 'float'},
  {path: 'engine.anti_oscillation.min_update_spacing_minutes', label: 'Least time between two updates (minutes)', type: 'float'},
  {path: 'engine.anti_oscillation.cooldown_hours', label: 'Cooldown after a change (hours, 0: off)', type: 'float'},
  {path: 'engine.anti_oscillation.min_change_ppm', label: 'Smallest change (ppm)', type: 'int'},
  {path: 'engine.anti_oscillation.min_change_pct', label: 'Smallest change (share, 0–1)', type: 'float'},
  {path: 'engine.anti_oscillation.max_updates_per_day', label: 'Updates per channel per day (0: no limit)', type: 'int'},
  {path: 'engine.anti_oscillation.new_channel_grace_days', label: 'Grace period of new channels (days)', type: 'float'},
  {path: 'engine.anti_oscillation.max_reversals', label: 'Direction reversals allowed', type: 'int'},
  {path: 'engine.anti_oscillation.reversal_window_days', label: 'Reversal window (days)', type: 'float'}
]
// Inbound fees (LND >= 0.18): discounts only; off keeps every channel's inbound fee as it is.
const FP_INBOUND_FIELDS = [
  {path: 'engine.inbound.discount_share', label: 'Inbound discount of a drained channel (share of its fee, 0–1)', type: 'float'},
  {path: 'engine.inbound.below_share', label: 'Inbound discount below local share (0–1)', type: 'float'},
  {path: 'engine.guardrails.inbound_min_ppm', label: 'Deepest inbound discount (ppm, 0 or below)', type: 'int'},
  {path: 'engine.guardrails.inbound_min_base_msat', label: 'Deepest inbound base discount (msat, 0 or below)', type: 'int'},
  {path: 'engine.guardrails.inbound_max_step_ppm', label: 'Largest inbound step (ppm)', type: 'int'}
]
const FP_LISTS = [
  {path: 'engine.guardrails.pinned_channels', label: 'Pinned channels (never touched)', kind: 'channel'},
  {path: 'engine.guardrails.allow_channels', label: 'Only these channels (empty: all)', kind: 'channel'},
  {path: 'engine.guardrails.deny_channels', label: 'Never these channels', kind: 'channel'},
  {path: 'engine.guardrails.allow_peers', label: 'Only channels with these peers (empty: all)', kind: 'peer'},
  {path: 'engine.guardrails.deny_peers', label: 'Never channels with these peers', kind: 'peer'}
]

window.app.component('fp-settings-dialog', {
  template: '#fp-settings-dialog',
  props: {
    modelValue: Boolean,
    canEdit: Boolean,
    channels: {type: Array, default: () => []},
    // the backend sets inbound fees (GET /status capabilities.inbound_fees); Core Lightning has none
    inboundFees: {type: Boolean, default: true},
    backend: {type: String, default: ''}
  },
  emits: ['update:modelValue', 'saved'],
  data() {
    return {
      form: null,
      errors: {},
      saving: false,
      loading: false,
      modes: [
        {label: 'Off', value: 'off'},
        {label: 'Shadow', value: 'shadow'},
        {label: 'Autopilot', value: 'autopilot'}
      ],
      inboundModes: [
        {label: 'Off: keep every inbound fee as it is', value: 'off'},
        {label: 'On: discounts on channels at 0 or set by Fee Autopilot', value: 'on'}
      ],
      labels: {},
      errorLabels: {}
    }
  },
  computed: {
    generalFields() {
      return this.labelled(FP_GENERAL_FIELDS)
    },
    toggles() {
      return this.labelled(FP_TOGGLES)
    },
    guardrailFields() {
      return this.labelled(FP_GUARDRAIL_FIELDS)
    },
    oscillationFields() {
      return this.labelled(FP_OSCILLATION_FIELDS)
    },
    inboundFields() {
      return this.labelled(FP_INBOUND_FIELDS)
    },
    lists() {
      return this.labelled(FP_LISTS)
    },
    HEURISTICS() {
      return FeePilot.HEURISTICS
    },
    weightNames() {
      return Object.keys(FeePilot.HEURISTICS)
    },
    weightSum() {
      if (!this.form) return 0
      return this.weightNames.reduce((sum, name) => sum + Number(this.form.engine.weights[name] || 0), 0)
    },
    channelOptions() {
      return this.channels
        .filter(c => c.state === 'active' || c.state === 'inactive')
        .map(c => ({label: `${c.peer_alias || c.peer_id.slice(0, 12)} · ${c.short_id}`, value: c.id}))
    },
    peerOptions() {
      const seen = {}
      this.channels.forEach(c => (seen[c.peer_id] = c.peer_alias || c.peer_id.slice(0, 12)))
      return Object.entries(seen).map(([value, name]) => ({label: `${name} · ${value.slice(0, 10)}…`, value}))
    },
    knownPaths() {
      const paths = ['mode', 'engine.weights', 'engine.inbound.manage']
      ;[this.generalFields, this.toggles, this.guardrailFields, this.oscillationFields, this.inboundFields, this.lists].forEach(group =>
        group.forEach(f => paths.push(f.path))
      )
      this.weightNames.forEach(name => paths.push('engine.weights.' + name))
      return paths
    },
    otherErrors() {
      return Object.entries(this.errors)
        .filter(([path]) => !this.knownPaths.includes(path))
        .map(([path, message]) => ({path: this.errorLabels[path] || this.labelOf(path), message}))
    }
  },
  watch: {
    modelValue(open) {
      if (open) this.load()
    }
  },
  methods: {
    ...FeePilot.methods,
    close() {
      this.$emit('update:modelValue', false)
    },
    // What the server calls a setting (its messages use the same words).
    labelOf(path, fallback) {
      return this.labels[path] || fallback || path
    },
    labelled(fields) {
      return fields.map(f => ({...f, label: this.labelOf(f.path, f.label)}))
    },
    async load() {
      this.loading = true
      this.errors = {}
      try {
        const {data} = await FeePilot.request('GET', '/settings')
        this.form = data
        if (data && data.labels) this.labels = data.labels
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.loading = false
      }
    },
    get(path) {
      return path.split('.').reduce((obj, key) => (obj == null ? obj : obj[key]), this.form)
    },
    set(path, value) {
      const keys = path.split('.')
      const last = keys.pop()
      const target = keys.reduce((obj, key) => obj[key], this.form)
      target[last] = value
      if (this.errors[path]) {
        const errors = {...this.errors}
        delete errors[path]
        this.errors = errors
      }
    },
    setNumber(path, value) {
      const number = Number(value)
      this.set(path, value === '' || value == null || Number.isNaN(number) ? value : number)
    },
    optionsFor(list) {
      return list.kind === 'peer' ? this.peerOptions : this.channelOptions
    },
    // Moving one weight rescales the others so that they keep adding up to 1.
    setWeight(name, value) {
      const weights = this.form.engine.weights
      const target = Math.min(1, Math.max(0, Number(value) || 0))
      const others = this.weightNames.filter(n => n !== name)
      const rest = others.reduce((sum, n) => sum + Number(weights[n] || 0), 0)
      const remaining = 1 - target
      others.forEach(n => {
        weights[n] = rest > 0 ? (Number(weights[n] || 0) * remaining) / rest : remaining / others.length
      })
      weights[name] = target
      this.roundWeights(name)
      const errors = {...this.errors}
      Object.keys(errors).filter(p => p.startsWith('engine.weights')).forEach(p => delete errors[p])
      this.errors = errors
    },
    roundWeights(keep) {
      const weights = this.form.engine.weights
      this.weightNames.forEach(n => (weights[n] = Math.round(weights[n] * 10000) / 10000))
      const drift = Math.round((1 - this.weightSum) * 10000) / 10000
      if (drift !== 0) {
        const largest = this.weightNames.filter(n => n !== keep).sort((a, b) => weights[b] - weights[a])[0]
        weights[largest] = Math.round((weights[largest] + drift) * 10000) / 10000
      }
    },
    patch() {
      const doc = {engine: {weights: {...this.form.engine.weights}, guardrails: {}, anti_oscillation: {}}}
      const put = path => {
        const keys = path.split('.')
        const last = keys.pop()
        const target = keys.reduce((obj, key) => (obj[key] = obj[key] || {}), doc)
        target[last] = this.get(path)
      }
      put('mode')
      put('engine.inbound.manage')
      ;[this.generalFields, this.toggles, this.guardrailFields, this.oscillationFields, this.inboundFields, this.lists].forEach(group =>
        group.forEach(f => put(f.path))
      )
      return doc
    },
    async save() {
      if (this.saving || !this.canEdit) return
      this.saving = true
      try {
        const {data} = await FeePilot.request('PUT', '/settings', this.patch())
        this.form = data
        if (data && data.labels) this.labels = data.labels
        this.errors = {}
        Quasar.Notify.create({type: 'positive', message: 'Settings saved'})
        this.$emit('saved', data)
        this.close()
      } catch (error) {
        const body = error.response && error.response.data
        if (error.response && error.response.status === 422 && body && Array.isArray(body.errors)) {
          const errors = {}
          const labels = {}
          body.errors.forEach(e => {
            errors[e.field] = errors[e.field] ? `${errors[e.field]}; ${e.message}` : e.message
            labels[e.field] = e.label
          })
          this.errors = errors
          this.errorLabels = labels
          // in the server's words, each setting by its label (no status line)
          Quasar.Notify.create({type: 'warning', message: `Settings not saved: ${body.detail}`, closeBtn: true})
        } else {
          FeePilot.notifyError(error)
        }
      } finally {
        this.saving = false
      }
    }
  }
})
