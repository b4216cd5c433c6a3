// <fp-credential-dialog :can-edit="isSuper">: the "Node credential" button and its dialog.
// Fee Autopilot's own LND macaroon (issue 17): which one node calls use, its fingerprint and
// permissions, and — for the super user — bake it, paste one (checked first), rotate, verify,
// revoke. The server never sends a macaroon back; a pasted one is cleared once sent.
window.app.component('fp-credential-dialog', {
  template: '#fp-credential-dialog',
  props: {
    canEdit: Boolean
  },
  data() {
    return {
      open: false,
      loading: false,
      busy: null,
      info: null,
      pasteOpen: false,
      pasted: '',
      check: null,
      confirmRevoke: false
    }
  },
  computed: {
    status() {
      return this.info ? this.info.status : null
    },
    active() {
      return this.info ? this.info.active : null
    },
    stateColor() {
      const state = this.status && this.status.state
      return {active: 'positive', refused: 'negative', unusable: 'negative'}[state] || 'grey-7'
    },
    stateText() {
      const s = this.status
      if (!s) return ''
      if (s.state === 'active') return `Fee Autopilot's own credential ${s.fingerprint} is in use.`
      if (s.state === 'refused') return `The node refused Fee Autopilot's credential ${s.fingerprint}.`
      if (s.state === 'unusable') return "Fee Autopilot's credential cannot be decrypted."
      return "Fee Autopilot uses LNbits' own macaroon (no credential of its own)."
    }
  },
  methods: {
    ...FeePilot.methods,
    async show() {
      this.open = true
      await this.load()
    },
    async load() {
      this.loading = true
      try {
        const {data} = await FeePilot.request('GET', '/credential')
        this.info = data
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.loading = false
      }
    },
    async act(name, method, path, body, done) {
      this.busy = name
      try {
        const {data} = await FeePilot.request(method, path, body)
        this.info = {...data, bake_possible: this.info ? this.info.bake_possible : null,
                     bake_reason: this.info ? this.info.bake_reason : null}
        Quasar.Notify.create({type: 'positive', message: done + (data.note ? ` (${data.note})` : '')})
        return true
      } catch (error) {
        const detail = error.response && error.response.data
        if (detail && Array.isArray(detail.missing)) this.check = {...detail, usable: false, problem: detail.detail}
        FeePilot.notifyError(error)
        return false
      } finally {
        this.busy = null
      }
    },
    bake() {
      const path = this.active ? '/credential/rotate' : '/credential'
      return this.act('bake', 'POST', path, {method: 'bake'},
        this.active ? 'Rotated: a new credential is in use, the old one revoked.' : 'Baked: Fee Autopilot uses its own credential.')
    },
    async checkPasted() {
      this.busy = 'check'
      try {
        const {data} = await FeePilot.request('POST', '/credential/check', {macaroon: this.pasted})
        this.check = data
      } catch (error) {
        FeePilot.notifyError(error)
      } finally {
        this.busy = null
      }
    },
    async usePasted() {
      const path = this.active ? '/credential/rotate' : '/credential'
      const ok = await this.act('paste', 'POST', path, {method: 'paste', macaroon: this.pasted},
        'The pasted credential is in use.')
      if (ok) {
        this.pasted = ''
        this.check = null
        this.pasteOpen = false
      }
    },
    verify() {
      return this.act('verify', 'POST', '/credential/verify', null, 'Checked with the node.')
    },
    async revoke() {
      this.confirmRevoke = false
      await this.act('revoke', 'POST', '/credential/revoke', null, "Revoked: Fee Autopilot uses LNbits' macaroon again.")
    },
    copyCommand() {
      if (this.info) Quasar.copyToClipboard(this.info.lncli_command).then(() =>
        Quasar.Notify.create({type: 'positive', message: 'Command copied'}))
    }
  }
})
