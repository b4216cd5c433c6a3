// <fp-chart :spec="{type, data, options}" height="220px">: a Chart.js canvas
// (LNbits' bundle already ships Chart.js 4, as window.Chart). The chart object is
// kept out of Vue's reactivity and rebuilt when the spec or the theme changes.
window.app.component('fp-chart', {
  props: {
    spec: {type: Object, required: true},
    height: {type: String, default: '220px'},
    label: {type: String, default: ''}
  },
  template: `
    <div class="fp-chart" :style="{position: 'relative', height: height}">
      <canvas ref="canvas" role="img" :aria-label="label"></canvas>
    </div>`,
  watch: {
    spec: {handler() { this.draw() }, deep: true},
    '$q.dark.isActive'() { this.draw() }
  },
  mounted() {
    this.draw()
  },
  beforeUnmount() {
    if (this.chart) this.chart.destroy()
    this.chart = null
  },
  methods: {
    theme() {
      const dark = this.$q.dark.isActive
      return {
        text: dark ? 'rgba(255,255,255,0.75)' : 'rgba(0,0,0,0.7)',
        grid: dark ? 'rgba(255,255,255,0.10)' : 'rgba(0,0,0,0.08)'
      }
    },
    draw() {
      if (!this.$refs.canvas) return
      if (this.chart) this.chart.destroy()
      const theme = this.theme()
      const spec = JSON.parse(JSON.stringify(this.spec, (key, value) => (typeof value === 'function' ? undefined : value)))
      const options = Object.assign({responsive: true, maintainAspectRatio: false, animation: false}, spec.options || {})
      options.plugins = Object.assign({legend: {labels: {color: theme.text, boxWidth: 12}}}, options.plugins || {})
      if (options.plugins.legend && !options.plugins.legend.labels) options.plugins.legend.labels = {color: theme.text, boxWidth: 12}
      const scales = options.scales || {}
      Object.values(scales).forEach(scale => {
        scale.ticks = Object.assign({color: theme.text}, scale.ticks || {})
        scale.grid = Object.assign({color: theme.grid}, scale.grid || {})
        if (scale.title) scale.title.color = theme.text
      })
      // functions (tick and tooltip formatters) are passed beside the data
      const hooks = this.spec.hooks || {}
      Object.entries(hooks.ticks || {}).forEach(([axis, fn]) => {
        if (scales[axis]) scales[axis].ticks.callback = fn
      })
      if (hooks.tooltip) {
        options.plugins.tooltip = Object.assign({}, options.plugins.tooltip || {}, {callbacks: hooks.tooltip})
      }
      options.scales = scales
      this.chart = Vue.markRaw(new Chart(this.$refs.canvas.getContext('2d'), {type: spec.type, data: spec.data, options}))
    }
  }
})
