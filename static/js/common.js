// Fee Autopilot: shared helpers for the page's components (loaded first).
window.FeePilot = (function () {
  const API = '/feepilot/api/v1'

  const HEURISTICS = {
    centrality: 'Centrality',
    liquidity: 'Liquidity',
    activity: 'Activity',
    competitiveness: 'Competitiveness',
    uptime: 'Uptime',
    stability: 'Age & stability',
    peer_quality: 'Peer quality',
    network_position: 'Network position'
  }

  const ACTIONS = {
    NO_ACTION: {label: 'No change', color: 'grey-6', icon: 'check'},
    INCREASE_FEES: {label: 'Raise fee', color: 'orange-8', icon: 'trending_up'},
    DECREASE_FEES: {label: 'Lower fee', color: 'light-blue-8', icon: 'trending_down'},
    REBALANCE: {label: 'Rebalance', color: 'purple-6', icon: 'swap_horiz'},
    CLOSE_CHANNEL: {label: 'Consider closing', color: 'negative', icon: 'link_off'}
  }

  const STATUS_COLORS = {
    applied: 'positive',
    completed: 'positive',
    partially_applied: 'warning',
    partially_rolled_back: 'warning',
    rolled_back: 'blue-grey-6',
    restored: 'warning',
    pending: 'info',
    running: 'info',
    proposed: 'info',
    would_apply: 'info',
    failed: 'negative',
    failed_apply: 'negative',
    conflict: 'deep-orange-8',
    skipped: 'grey-6',
    unchanged: 'grey-6',
    blocked: 'grey-7',
    unknown: 'info',
    interrupted: 'deep-orange-8',
    applying: 'info',
    rolling_back: 'info',
    no_action: 'grey-6'
  }

  function request(method, path, data) {
    return LNbits.api.request(method, API + path, null, data)
  }

  function formatSat(value) {
    return value == null ? '—' : Number(value).toLocaleString('en-US')
  }

  function compactSat(value) {
    if (value == null) return '—'
    const v = Number(value)
    if (Math.abs(v) >= 1e8) return (v / 1e8).toFixed(2) + ' BTC'
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + ' M'
    if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(0) + ' k'
    return String(v)
  }

  function scoreColor(score) {
    if (score == null) return 'grey-6'
    if (score >= 0.8) return 'positive'
    if (score >= 0.6) return 'light-green-8'
    if (score >= 0.4) return 'amber-8'
    if (score >= 0.2) return 'deep-orange-7'
    return 'negative'
  }

  function formatScore(score) {
    return score == null ? '—' : Number(score).toFixed(2)
  }

  function percent(value, digits = 0) {
    return value == null ? '—' : (Number(value) * 100).toFixed(digits) + ' %'
  }

  function when(timestamp) {
    if (!timestamp) return '—'
    return LNbits.utils.formatTimestamp(timestamp)
  }

  function ago(timestamp) {
    if (!timestamp) return ''
    return LNbits.utils.formatTimestampFrom(timestamp)
  }

  function policyText(policy) {
    if (!policy) return '—'
    return `${policy.ppm} ppm + ${policy.base_msat} msat`
  }

  function label(name) {
    return name.replace(/_/g, ' ')
  }

  function statusColor(status) {
    return STATUS_COLORS[status] || 'grey-6'
  }

  function action(name) {
    return ACTIONS[name] || {label: label(name || ''), color: 'grey-6', icon: 'help'}
  }

  function evidenceValue(value) {
    if (value == null) return '—'
    if (typeof value === 'number') {
      if (Number.isInteger(value)) return value.toLocaleString('en-US')
      return Math.abs(value) < 1 ? value.toPrecision(3) : value.toFixed(2)
    }
    if (typeof value === 'boolean') return value ? 'yes' : 'no'
    if (typeof value === 'object') return JSON.stringify(value)
    return String(value)
  }

  // 409 answers carry `differences` (one change) or `conflicts` (a run).
  function conflictOf(error) {
    const response = error && error.response
    if (!response || response.status !== 409) return null
    return response.data || {}
  }

  // Plain functions, spread into components' `methods`.
  const methods = {
    formatSat,
    compactSat,
    scoreColor,
    formatScore,
    percent,
    when,
    ago,
    policyText,
    label,
    statusColor,
    action,
    evidenceValue
  }

  return {API, HEURISTICS, methods, request, conflictOf, ...methods}
})()
