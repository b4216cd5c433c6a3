const FEEPILOT_API = '/feepilot/api/v1'

window.app = Vue.createApp({
  el: '#vue',
  mixins: [windowMixin],
  data() {
    return {
      status: null,
      channels: [],
      loading: false,
      filter: '',
      channelStates: ['active', 'inactive', 'pending', 'closed'],
      channelColumns: [
        {name: 'peer_alias', label: 'Peer', field: 'peer_alias', align: 'left', sortable: true},
        {name: 'state', label: 'State', field: 'state', align: 'left', sortable: true},
        {name: 'capacity_sat', label: 'Capacity (sat)', field: 'capacity_sat', align: 'right', sortable: true,
          format: v => this.formatSat(v)},
        {name: 'balance', label: 'Local / remote (sat)', field: row => this.localShare(row), align: 'left', sortable: true},
        {name: 'fee', label: 'Fee', field: row => (row.policy ? row.policy.ppm : -1), align: 'left', sortable: true},
        {name: 'cltv', label: 'CLTV Δ', field: row => (row.policy ? row.policy.cltv_delta : null), align: 'right'},
        {name: 'id', label: 'Channel id', field: 'id', align: 'left', classes: 'text-caption ellipsis', style: 'max-width: 160px'}
      ]
    }
  },
  computed: {
    isAdmin() {
      return Boolean(this.g.user && (this.g.user.admin || this.g.user.super_user))
    }
  },
  methods: {
    formatSat(value) {
      return value == null ? '—' : Number(value).toLocaleString()
    },
    shortId(id) {
      return id ? id.slice(0, 10) + '…' : ''
    },
    localShare(row) {
      const total = row.local_sat + row.remote_sat
      return total > 0 ? row.local_sat / total : 0
    },
    stateColor(state) {
      return {active: 'positive', inactive: 'warning', pending: 'info', closed: 'grey'}[state] || 'grey'
    },
    async refresh() {
      this.loading = true
      try {
        const {data} = await LNbits.api.request('GET', `${FEEPILOT_API}/status`)
        this.status = data
        if (data.node_api_available) {
          const response = await LNbits.api.request('GET', `${FEEPILOT_API}/channels`)
          this.channels = response.data.channels
        } else {
          this.channels = []
        }
      } catch (error) {
        LNbits.utils.notifyApiError(error)
      } finally {
        this.loading = false
      }
    }
  },
  created() {
    if (this.isAdmin) {
      this.refresh()
    }
  }
})
