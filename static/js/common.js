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

  // Fees are often fractions of a sat: whole sats from 100 on, else up to msat precision.
  function feeSat(value) {
    if (value == null) return '—'
    const v = Number(value)
    return Math.abs(v) >= 100 ? formatSat(Math.round(v)) : String(Math.round(v * 1000) / 1000)
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
    const inbound = inboundText(policy)
    return `${policy.ppm} ppm + ${policy.base_msat} msat` + (inbound ? ` · ${inbound}` : '')
  }

  // An inbound fee (LND; a discount when negative) in words, or '' when it is none.
  function inboundText(policy) {
    if (!policy || (!policy.inbound_ppm && !policy.inbound_base_msat)) return ''
    const base = policy.inbound_base_msat ? ` + ${policy.inbound_base_msat} msat` : ''
    return `inbound ${policy.inbound_ppm || 0} ppm${base}`
  }

  function sameInbound(a, b) {
    return (a.inbound_ppm || 0) === (b.inbound_ppm || 0) && (a.inbound_base_msat || 0) === (b.inbound_base_msat || 0)
  }

  function label(name) {
    return String(name == null ? '' : name).replace(/_/g, ' ')
  }

  // The data sources status lists, as the page names them.
  const SOURCES = {htlc_events: 'HTLC events'}

  function sourceLabel(name) {
    return SOURCES[name] || label(name)
  }

  // "3 days", "5 h", "12 min": how long an impact window or a wait is.
  function duration(seconds) {
    const s = Math.max(0, Number(seconds) || 0)
    const days = s / 86400
    if (days >= 0.95) {
      // within a few minutes of whole days (a window ends a moment after it was asked for)
      const whole = Math.abs(days - Math.round(days)) < 0.02 || days >= 10 ? Math.round(days) : null
      if (whole != null) return whole === 1 ? '1 day' : `${whole} days`
      return `${days.toFixed(1)} days`
    }
    if (s >= 3600) return `${Math.round(s / 3600)} h`
    return `${Math.max(1, Math.round(s / 60))} min`
  }

  // A tick formatter for a time axis spanning `spanS` seconds: hours within two days.
  function timeTick(spanS) {
    return value => {
      const text = FeePilot.when(value)
      return spanS < 2 * 86400 ? text.slice(11, 16) : text.slice(5, 10)
    }
  }

  function signedPercent(value) {
    if (value == null) return ''
    const v = Math.round(Number(value))
    return (v > 0 ? '+' : v < 0 ? '−' : '±') + Math.abs(v) + ' %'
  }

  function plural(count, one, many) {
    return `${formatSat(count)} ${count === 1 ? one : many || one + 's'}`
  }

  const RUN_KINDS = {dry_run: 'dry-run', manual: 'manual run', shadow: 'shadow run', autopilot: 'autopilot run'}

  function runKind(kind) {
    return RUN_KINDS[kind] || label(kind)
  }

  function capitalized(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : ''
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

  // Where a channel counts as drained or full; GET /summary sends the engine's values.
  const limits = Vue.reactive({drainedBelow: 0.15, fullAbove: 0.85})

  function localShare(row) {
    const total = (row.local_sat || 0) + (row.remote_sat || 0)
    return total > 0 ? row.local_sat / total : 0
  }

  // What the scores propose for a row: raise/lower to a fee, held by a guardrail, or keep.
  function proposalOf(row) {
    const score = row.score
    if (!score || !row.policy) return null
    const neu = score.new_policy
    const old = score.old_policy || row.policy
    if (!neu || score.fee_action === 'NO_ACTION') return null
    const inboundMoves = !sameInbound(neu, old)
    if (neu.ppm === old.ppm && neu.base_msat === old.base_msat && !inboundMoves) return null
    const up = neu.ppm > old.ppm || (neu.ppm === old.ppm && neu.base_msat > old.base_msat)
    const limit = score.limited_by
    const held = !score.accepted
    return {
      kind: held ? 'held' : up ? 'raise' : 'lower',
      live: !held,
      to: neu.ppm,
      inbound: inboundMoves ? inboundText(neu) || 'no inbound fee' : '',
      color: held ? 'grey-6' : up ? 'orange-8' : 'light-blue-8',
      icon: held ? 'shield' : up ? 'trending_up' : 'trending_down',
      help: held
        ? `Would ${up ? 'raise' : 'lower'} to ${policyText(neu)}, but ${limit ? limit.label : 'a guardrail'} holds it back`
        : `Proposed: ${policyText(neu)}`
    }
  }

  // Why a row's scores no longer describe the channel, or '' when they still do.
  function staleness(row) {
    const score = row.score
    if (!score || !row.policy) return ''
    const scored = score.scored_policy || score.old_policy
    const reasons = []
    if (scored && (scored.ppm !== row.policy.ppm || scored.base_msat !== row.policy.base_msat)) {
      reasons.push(`the fee is now ${policyText(row.policy)}, the scores saw ${policyText(scored)}`)
    }
    if (score.local_sat != null && row.capacity_sat > 0 && Math.abs(score.local_sat - row.local_sat) > 0.05 * row.capacity_sat) {
      reasons.push(`our side moved from ${compactSat(score.local_sat)} to ${compactSat(row.local_sat)} sat`)
    }
    if (!reasons.length) return ''
    const text = reasons.join('; ')
    return `Since these scores were computed, ${text}. Re-score to see what it would do now.`
  }

  const ERROR_CAPTIONS = {400: 'Not accepted', 401: 'Sign in again', 403: 'Not allowed', 404: 'Not found',
    409: 'Refused', 422: 'Not accepted', 423: 'Busy', 503: 'The node is unavailable'}

  // A failed request as a toast in the page's words: the server's message (already in
  // the labels the page shows), never a status line or a validator's raw text.
  function notifyError(error) {
    const response = error && error.response
    if (!response) {
      console.warn('feepilot:', error)
      Quasar.Notify.create({type: 'negative', message: 'The server did not answer: check the connection and try again.'})
      return
    }
    const data = response.data || {}
    let messages = []
    if (Array.isArray(data.errors) && data.errors.length) {
      messages = data.errors.map(e => (e.label ? `${e.label}: ${e.message}` : e.message))
    } else if (typeof data.detail === 'string') {
      messages = [data.detail]
    } else if (Array.isArray(data.detail)) {
      messages = data.detail.map(e => e.msg || String(e))
    }
    if (!messages.length) messages = [`The request failed (HTTP ${response.status}).`]
    messages.slice(0, 3).forEach(message =>
      Quasar.Notify.create({
        timeout: 6000,
        type: response.status >= 500 ? 'negative' : 'warning',
        message,
        caption: ERROR_CAPTIONS[response.status] || (response.status >= 500 ? 'Server error' : null),
        closeBtn: true
      })
    )
  }

  // Plain functions, spread into components' `methods`.
  const methods = {
    formatSat,
    compactSat,
    feeSat,
    scoreColor,
    formatScore,
    percent,
    when,
    ago,
    policyText,
    inboundText,
    label,
    sourceLabel,
    statusColor,
    action,
    evidenceValue,
    duration,
    signedPercent,
    plural,
    runKind,
    capitalized
  }

  return {API, HEURISTICS, methods, request, conflictOf, notifyError, timeTick, limits, localShare, proposalOf, staleness, ...methods}
})()
