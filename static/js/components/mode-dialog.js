// <fp-mode-dialog v-model="open" :target="mode" :current="mode">: switching into or
// out of autopilot is asked, never done on one click. The dialog first previews, with
// a dry-run, what the next cycle would change, so the operator sees what "autopilot"
// means for this node right now (or what stops being applied when leaving it).
window.app.component('fp-mode-dialog', {
  template: '#fp-mode-dialog',
  props: {
    modelValue: Boolean,
    target: {type: String, default: 'shadow'},
    current: {type: String, default: 'shadow'}
  },
  emits: ['update:modelValue', 'switched'],
  data() {
    return {preview: null, previewError: '', previewing: false, saving: false}
  },
  computed: {
    entering() {
      return this.target === 'autopilot'
    },
    changes() {
      return this.preview ? this.preview.decisions.filter(d => d.accepted && d.new_policy) : []
    },
    held() {
      return this.preview ? this.preview.decisions.filter(d => !d.accepted && d.fee_action !== 'NO_ACTION') : []
    },
    title() {
      return this.entering ? 'Switch to autopilot?' : `Leave autopilot for ${this.target}?`
    },
    explanation() {
      if (this.entering) {
        return 'From the next cycle on, Fee Autopilot applies accepted proposals to the node by itself, every one ' +
          'logged and reversible from the history. If the next cycle ran now, it would do this:'
      }
      return (this.target === 'off' ? 'Nothing runs on a schedule any more. ' : 'Cycles keep running and recording proposals, ') +
        'but no fee is changed by itself; the fees stay as they are, nothing is rolled back. These changes would no ' +
        'longer be applied:'
    },
    confirmLabel() {
      return this.entering ? 'Switch to autopilot' : `Switch to ${this.target}`
    }
  },
  watch: {
    modelValue(open) {
      if (open) this.loadPreview()
    }
  },
  methods: {
    ...FeePilot.methods,
    close() {
      this.$emit('update:modelValue', false)
    },
    async loadPreview() {
      this.preview = null
      this.previewError = ''
      this.previewing = true
      try {
        const {data} = await FeePilot.request('POST', '/runs', {dry_run: true})
        this.preview = data
      } catch (error) {
        const detail = error && error.response && error.response.data && error.response.data.detail
        this.previewError = typeof detail === 'string' ? detail : 'The preview could not be computed.'
      } finally {
        this.previewing = false
      }
    },
    change(decision) {
      return `${decision.old_policy.ppm} → ${decision.new_policy.ppm} ppm`
    },
    async confirm() {
      if (this.saving) return
      this.saving = true
      try {
        const {data} = await FeePilot.request('PUT', '/settings', {mode: this.target})
        this.$emit('switched', data)
        this.close()
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.saving = false
      }
    }
  }
})
